"""catalog's event subscriptions."""

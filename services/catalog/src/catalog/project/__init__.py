"""Projects (Qovery's Projects Main Calls)."""

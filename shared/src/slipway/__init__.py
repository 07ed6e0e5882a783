"""Slipway shared library: the only code services share (settings, db, errors, events, auth, health)."""

"""Audit trail of every mutating call, and the authorization decision endpoint the gateway calls."""

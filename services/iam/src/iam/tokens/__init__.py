"""API tokens: issue, hash, introspect, revoke."""

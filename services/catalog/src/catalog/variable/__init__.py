"""Qovery's unified variables: scopes, built-ins, aliases, overrides, secrets, files, and their resolution."""

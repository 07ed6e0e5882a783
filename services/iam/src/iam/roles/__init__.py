"""Roles: built-in roles, custom roles, and the authorization policy."""

"""Accounts: sign-up, password and OIDC sign-in, JWTs and refresh tokens, account information."""

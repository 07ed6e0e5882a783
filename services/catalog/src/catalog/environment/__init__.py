"""Environments and their deployment stages (Qovery's Environment Main Calls, Deployment Stage calls)."""

"""Organizations: the tenancy root (Qovery's Organization Main Calls)."""

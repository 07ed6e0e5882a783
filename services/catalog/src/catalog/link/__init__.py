"""The public URLs of applications and containers (Qovery's Links calls)."""

"""Custom domains of applications and containers (Qovery's CustomDomain calls)."""

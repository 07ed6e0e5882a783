"""Database services of an environment (Qovery's Databases calls), run as containers."""

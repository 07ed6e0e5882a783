"""Job services of an environment: run on a cron schedule or on environment events (Qovery's Jobs calls)."""

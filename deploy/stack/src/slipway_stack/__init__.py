"""Embedded one-machine Slipway stack: Postgres, NATS and the six services as local processes."""

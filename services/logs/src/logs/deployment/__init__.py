"""Deployment logs: persisted build/deploy lines, `listEnvironmentLogs`, `/deployment/logs` and `/deployment/status`."""

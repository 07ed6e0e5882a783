"""Run the logs service: `python -m logs`."""

from logs.settings import LogsSettings
from slipway.app import serve

serve("logs.main:create_app", LogsSettings())

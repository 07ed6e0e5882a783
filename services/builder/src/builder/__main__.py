"""Run the builder service: `python -m builder`."""

from builder.settings import BuilderSettings
from slipway.app import serve

serve("builder.main:create_app", BuilderSettings())

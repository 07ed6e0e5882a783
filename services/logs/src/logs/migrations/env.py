"""Alembic environment of the logs schema."""

from logs.models import SCHEMA, Base
from slipway.migrations import run_env

run_env(Base.metadata, SCHEMA)

"""Alembic environment of the builder schema."""

from builder.models import SCHEMA, Base
from slipway.migrations import run_env

run_env(Base.metadata, SCHEMA)

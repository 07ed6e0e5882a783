"""Alembic environment of the catalog schema."""

from catalog.models import SCHEMA, Base
from slipway.migrations import run_env

run_env(Base.metadata, SCHEMA)

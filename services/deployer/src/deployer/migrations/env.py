"""Alembic environment of the deployer schema."""

from deployer.models import SCHEMA, Base
from slipway.migrations import run_env

run_env(Base.metadata, SCHEMA)

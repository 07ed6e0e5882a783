"""Alembic environment of the iam schema."""

from iam.models import SCHEMA, Base
from slipway.migrations import run_env

run_env(Base.metadata, SCHEMA)

"""Alembic's entry point for this migration source: chinwag passes the connection (``chinwag db upgrade``)."""

from chinwag.migration_env import run_migrations

run_migrations()

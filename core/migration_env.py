"""What every migration source's ``env.py`` runs: Alembic on the connection chinwag hands it.

A source's ``env.py`` is two lines::

    from chinwag.migration_env import run_migrations
    run_migrations()

chinwag (``chinwag.schema_migrate``) opens the app's engine, takes the schema lock and passes the
connection, the source and its tables in the Alembic config's ``attributes``; this configures the
migration context with the source's own version table, batch mode (so a column change works on
SQLite too) and a filter that keeps autogenerate to the source's own tables.
"""

from __future__ import annotations

from alembic import context

from .schema_sources import MigrationSource


def run_migrations() -> None:
    """Run the migrations Alembic asked for (online only: on the connection chinwag passes)."""
    if context.is_offline_mode():
        raise RuntimeError("chinwag runs migrations on a database connection (chinwag db upgrade), not as SQL scripts")
    attributes = context.config.attributes
    connection = attributes.get("connection")
    source: MigrationSource | None = attributes.get("source")
    if connection is None or source is None:
        raise RuntimeError("run this source's migrations with chinwag db upgrade, not with the alembic command")
    context.configure(connection=connection, target_metadata=attributes.get("target_metadata"),
                      version_table=source.version_table, render_as_batch=True, compare_type=True,
                      include_object=source.includes)
    with context.begin_transaction():
        context.run_migrations()

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

from typing import Any

from alembic import context

from .schema_sources import VERSION_TABLE_PREFIX, MigrationSource


def run_migrations() -> None:
    """Run the migrations Alembic asked for (online only: on the connection chinwag passes)."""
    if context.is_offline_mode():
        raise RuntimeError("chinwag runs migrations on a database connection (chinwag db upgrade), not as SQL scripts")
    attributes = context.config.attributes
    connection = attributes.get("connection")
    source: MigrationSource | None = attributes.get("source")
    if connection is None or source is None:
        raise RuntimeError("run this source's migrations with chinwag db upgrade, not with the alembic command")
    owned = set(source.tables)

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return name in owned and not (name or "").startswith(VERSION_TABLE_PREFIX)
        table = getattr(obj, "table", None)
        return table is None or table.name in owned

    context.configure(connection=connection, target_metadata=attributes.get("target_metadata"),
                      version_table=source.version_table, render_as_batch=True, compare_type=True,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()

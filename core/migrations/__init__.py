"""Core's migrations: the Alembic scripts of the ``chinwag`` migration source (``versions/``), and
the built-in plugin that registers them through ``register_migrations``, as any plugin does.

The first revision is the schema of release 0.1 (made with ``create_all`` then, so a 0.1 database
is adopted at it); each later one is one change to core's tables. Write a new one with
``chinwag db revision chinwag -m "what changed" --project P`` against a database at head, then
read and correct what autogenerate wrote (see docs/architecture.md, "Schema migrations").
"""

from __future__ import annotations

from typing import Any, Callable

from ..hookspecs import hookimpl


@hookimpl
def register_migrations(register: Callable[[Any], Any]) -> None:
    """The ``chinwag`` source: every table of core's own declarations."""
    from ..app import core_metadata
    from ..schema_sources import MigrationSource, package_folder

    register(MigrationSource("chinwag", package_folder(__file__, "."),
                             [table for declared in core_metadata() for table in declared.tables.values()]))

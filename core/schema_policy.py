"""Whether a starting app upgrades its database schema, and the refusal when it does not and must.

Serving processes and commands never migrate a PostgreSQL database by surprise: they upgrade
only when asked (``chinwag serve --migrate``, ``database.migrate: true``, or ``CHINWAG_MIGRATE=1``
in the environment, which the test kit sets), and otherwise refuse to start on a schema that is
behind the code, in one line that says which command to run. ``database.migrate: auto`` (the
default) upgrades a SQLite database: the embedded one of the demo and of a single-process
deployment, which one process writes and a file copy backs up.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import Chinwag

MIGRATE_VARIABLE = "CHINWAG_MIGRATE"
_YES = ("1", "true", "yes", "on")
_NO = ("0", "false", "no", "off")


class SchemaNotReady(Exception):
    """The database schema does not match this code and the app may not upgrade it; the message
    is one line that says what to run."""


def should_migrate(database_url: str, configured: bool | None, flag: bool = False) -> bool:
    """Whether to upgrade before starting: ``flag`` (``--migrate``), then ``CHINWAG_MIGRATE``,
    then ``database.migrate`` (``configured``; None is auto: yes for SQLite, no for PostgreSQL)."""
    if flag:
        return True
    variable = os.environ.get(MIGRATE_VARIABLE, "").strip().lower()
    if variable in _YES:
        return True
    if variable in _NO:
        return False
    if configured is not None:
        return configured
    return database_url.startswith("sqlite")


async def ready_schema(app: Chinwag, migrate: bool | None = None) -> None:
    """Upgrade the app's schema (``migrate``, or by ``should_migrate`` when None), or check that it
    is at every source's head; raise ``SchemaNotReady`` when it is not and may not be upgraded."""
    from .schema_migrate import Migrator

    assert app.store is not None, "the store is not open"
    migrator = Migrator(app.store, list(app.migration_sources), app.metadata)
    statuses = await migrator.status()
    project = app.config.project_dir
    ahead = [status for status in statuses if status.unknown]
    if ahead:
        raise SchemaNotReady(
            "the database schema is newer than this chinwag ("
            + ", ".join(f"{status.source}: {','.join(status.unknown)} unknown" for status in ahead)
            + "); run the chinwag release that upgraded it (its chinwag db downgrade can take the schema back)")
    behind = [status.describe() for status in statuses if not status.at_head]
    missing = await migrator.missing_unowned()
    if missing:
        behind.append(f"tables without migrations missing: {', '.join(missing)}")
    if not behind:
        return  # at head: nothing to lock or write
    if migrate is None:
        migrate = should_migrate(app.config.database, app.config.migrate)
    if migrate:
        await migrator.upgrade()
        return
    raise SchemaNotReady(f"the database schema is behind this chinwag ({', '.join(behind)}); "
                         f"run: chinwag db upgrade --project {project}")

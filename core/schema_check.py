"""``chinwag db check``: does the database hold every table, column and index the app declares?

After ``chinwag db upgrade`` the answer must be yes. Each source's declared tables are compared
with the database by Alembic's ``compare_metadata`` (tables, columns, types, nullability,
indexes, unique constraints, foreign keys); index names are also looked up in the database's
own catalogue, since expression indexes cannot be compared by reflection on SQLite. A table no
source owns is listed too: a plugin that declares tables must ship migrations for them.
"""

from __future__ import annotations

import warnings
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from .schema_migrate import Migrator
from .schema_sources import claim_problems, unowned_tables


async def schema_differences(migrator: Migrator) -> list[str]:
    """One line per difference between what the app declares and the database (none: it matches)."""
    lines = [f"{status.describe()}: not at head" for status in await migrator.status() if not status.at_head]
    lines += claim_problems(migrator.sources)
    lines += [f"table {name} is declared but no migration source owns it (register_migrations)"
              for name in unowned_tables(migrator.metadata, migrator.sources)]
    async with migrator.store.connect() as connection:
        lines += await connection.run_sync(_compare, migrator)
    return lines


def _compare(sync: sa.Connection, migrator: Migrator) -> list[str]:
    lines = []
    indexes = _index_names(sync)
    for source in migrator.sources:
        declared = source.metadata(migrator.metadata)
        for name in source.tables:
            if name not in migrator.metadata.tables:
                lines.append(f"{source.name}: owns table {name}, which no plugin declares (register_tables)")
        context = MigrationContext.configure(sync, opts={
            "compare_type": True, "version_table": source.version_table,
            "include_object": source.includes})
        with warnings.catch_warnings():  # expression indexes, which SQLite cannot reflect: checked by name below
            warnings.simplefilter("ignore")
            differences = compare_metadata(context, declared)
        lines += [f"{source.name}: {_describe(diff)}" for diff in _flatten(differences)]
        for table in declared.tables.values():
            lines += [f"{source.name}: index {index.name} on {table.name} is missing"
                      for index in table.indexes if index.name not in indexes]
    return lines


def _index_names(sync: sa.Connection) -> set[str]:
    if sync.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return {row[0] for row in sync.exec_driver_sql(query)}


def _flatten(diffs: list[Any]) -> list[Any]:
    flat = []
    for diff in diffs:
        flat.extend(diff if isinstance(diff, list) else [diff])
    return flat


def _describe(diff: Any) -> str:
    """One of Alembic's difference tuples, in words."""
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        return f"table {diff[1].name} {'is missing' if kind == 'add_table' else 'is in the database only'}"
    if kind in ("add_column", "remove_column"):
        where = "is missing" if kind == "add_column" else "is in the database only"
        return f"column {diff[2]}.{diff[3].name} {where}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        item = diff[1]
        columns = ", ".join(str(getattr(column, "name", column)) for column in getattr(item, "columns", ()))
        what = "index" if "index" in kind else "constraint"
        where = "is missing" if kind.startswith("add") else "is in the database only"
        return f"{what} {item.name or ''} on {item.table.name} ({columns}) {where}"
    if kind in ("add_fk", "remove_fk"):
        fk = diff[1]
        where = "is missing" if kind == "add_fk" else "is in the database only"
        return f"foreign key of {fk.parent.name} ({', '.join(fk.column_keys)}) {where}"
    if kind.startswith("modify_"):
        _, _, table, column, _, existing, wanted = diff
        return f"column {table}.{column}: {kind[7:]} is {existing!r} in the database, {wanted!r} declared"
    return repr(diff)

"""Migration sources: who owns which tables, and where that owner's Alembic revisions live.

Core and every plugin that declares tables register a ``MigrationSource`` through the
``register_migrations`` hook: a name, an Alembic script directory inside the plugin's package and
the tables its revisions create. Each source keeps its revision in a version table of its own
(``alembic_version_<name>``), so core and each plugin upgrade independently of one another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

VERSION_TABLE_PREFIX = "alembic_version_"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _table_names(tables: Iterable[str | sa.Table]) -> tuple[str, ...]:
    return tuple(sorted(table.name if isinstance(table, sa.Table) else str(table) for table in tables))


def _check_name(_: Any, __: Any, name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"migration source name {name!r} must be lower-case letters, digits and _ "
                         "(at most 40, starting with a letter): it names the version table")


def _check_folder(_: Any, __: Any, folder: Path) -> None:
    if not (folder / "env.py").is_file():
        raise ValueError(f"migration source folder {folder} has no env.py (see docs/plugins.md, register_migrations)")


@attrs.frozen
class MigrationSource:
    """One owner's migrations: ``name`` (also its version table's suffix), ``folder`` (the Alembic
    script directory: ``env.py`` and ``versions/``) and the names of the ``tables`` it owns."""

    name: str = attrs.field(validator=_check_name)
    folder: Path = attrs.field(converter=lambda value: Path(value).resolve(), validator=_check_folder)
    tables: tuple[str, ...] = attrs.field(converter=_table_names, default=())

    @property
    def version_table(self) -> str:
        """The table that holds this source's revision in the database."""
        return VERSION_TABLE_PREFIX + self.name

    def includes(self, obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        """Alembic's ``include_object``: only this source's own tables and what is on them (never
        another source's tables, nor any version table)."""
        if type_ == "table":
            return name in self.tables and not (name or "").startswith(VERSION_TABLE_PREFIX)
        table = getattr(obj, "table", None)
        return table is None or table.name in self.tables

    def metadata(self, app_metadata: sa.MetaData) -> sa.MetaData:
        """The app's declared tables that this source owns, on a ``MetaData`` of their own (what its
        revisions must produce: autogenerate and ``chinwag db check`` compare with it)."""
        owned = sa.MetaData()
        for name in self.tables:
            if name in app_metadata.tables:
                app_metadata.tables[name].to_metadata(owned)
        return owned


def package_folder(module_file: str, folder: str = "migrations") -> Path:
    """The ``migrations/`` folder beside a module: ``package_folder(__file__)`` in a plugin's package."""
    return Path(module_file).resolve().parent / folder


def unowned_tables(metadata: sa.MetaData, sources: Iterable[MigrationSource]) -> list[str]:
    """The declared tables no source owns (a plugin that registers tables but no migrations)."""
    owned = {name for source in sources for name in source.tables}
    return sorted(name for name in metadata.tables if name not in owned)


def claim_problems(sources: Iterable[MigrationSource]) -> list[str]:
    """Tables that two sources both claim, one line each."""
    owners: dict[str, str] = {}
    problems = []
    for source in sources:
        for table in source.tables:
            if table in owners:
                problems.append(f"table {table} is claimed by migration sources {owners[table]} and {source.name}")
            owners.setdefault(table, source.name)
    return problems

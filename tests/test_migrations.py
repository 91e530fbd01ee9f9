"""Schema migrations (``chinwag db``), on SQLite and PostgreSQL.

A database made by release 0.1 (``tests/fixtures/schema_0_1.py``: that release's table definitions,
created as it created them, with rows) upgrades to head with its rows intact; every source goes
down one step and up again; a fresh database upgraded is exactly what the app declares
(``chinwag db check``: no table forgotten); two upgrades at once both succeed; ``chinwag serve``
refuses a schema behind the code in one line, and ``--migrate`` upgrades it first.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import create_async_engine

from chinwag import hookimpl
from chinwag.cli import cli
from chinwag.schema_sources import MigrationSource
from chinwag.store import utc
from chinwag.testing import QUICKSTART, ServerProcess, free_port, registered_plugin, write_project

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
import schema_0_1  # noqa: E402

CHINWAG = str(Path(sys.executable).with_name("chinwag"))


def head_and_previous(package: str) -> tuple[str, str]:
    """A built-in source's head revision and the one before it."""
    import importlib

    from chinwag.schema_migrate import script_directory
    from chinwag.schema_sources import package_folder

    script = script_directory(package_folder(importlib.import_module(package).__file__ or "", "."))
    head = script.get_revision(script.get_current_head())
    return head.revision, str(head.down_revision)


CORE_HEAD, CORE_PREVIOUS = head_and_previous("chinwag.migrations")
MEETINGS_HEAD, MEETINGS_PREVIOUS = head_and_previous("chinwag.meetings.migrations")
NOT_MIGRATING = {"CHINWAG_MIGRATE": ""}  # as in production: the project's policy decides


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}"
    return str(request.getfixturevalue("postgres_url"))


def project(folder: Path, database: str, **settings: Any) -> Path:
    """The quickstart project on ``database``."""
    return write_project(folder, {"database": database, **settings}, copy_from=QUICKSTART)


def on_database(url: str, work: Callable[[sa.Connection], Any]) -> Any:
    """``work(connection)`` in one transaction on ``url``."""

    async def main() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def db(*args: str) -> Any:
    """``chinwag db ARGS`` in this process; the click result."""
    return CliRunner().invoke(cli, ["db", *args], catch_exceptions=False)


def stored(connection: sa.Connection, table: str) -> list[dict[str, Any]]:
    """The rows of ``table``, in key order, with times in UTC."""
    with warnings.catch_warnings():  # SQLite cannot reflect the expression index of sessions: not needed here
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        reflected = sa.Table(table, sa.MetaData(), autoload_with=connection)
    rows = connection.execute(sa.select(reflected).order_by(*reflected.primary_key.columns)).mappings().all()
    return [{key: utc(value) if hasattr(value, "tzinfo") and hasattr(value, "hour") else value
             for key, value in row.items()} for row in rows]


def table_names(connection: sa.Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


def event_indexes(connection: sa.Connection) -> set[str]:
    return {index["name"] for index in sa.inspect(connection).get_indexes("events")}


def test_a_0_1_database_upgrades_to_head_with_its_rows_intact(tmp_path: Path, database: str) -> None:
    folder = project(tmp_path / "p", database)
    on_database(database, schema_0_1.create_0_1_database)

    upgraded = db("upgrade", "--project", str(folder))
    assert upgraded.exit_code == 0, upgraded.output
    assert re.search(rf"^chinwag: none -> {CORE_HEAD} \(tables made before migrations: adopted", upgraded.output, re.M)
    assert re.search(rf"^meetings: none -> {MEETINGS_HEAD} \(tables made before migrations: adopted", upgraded.output, re.M)

    def rows(connection: sa.Connection) -> dict[str, Any]:
        return {table: stored(connection, table) for table in schema_0_1.ROWS if table in table_names(connection)}

    after = on_database(database, rows)
    for table, expected in schema_0_1.ROWS.items():
        if table in schema_0_1.DROPPED:
            assert table not in after
            continue
        assert after[table] == expected, table
    checked = db("check", "--project", str(folder))
    assert checked.exit_code == 0, checked.output


def test_a_database_of_a_development_build_after_0_1_is_adopted_where_its_tables_stand(
        tmp_path: Path, database: str) -> None:
    """A build between 0.1 and migrations made more tables with create_all: each revision whose
    tables are there counts as done, and the upgrade goes on from the first that is not."""
    from chinwag.abuse_limits import metadata as limits_metadata
    from chinwag.meetings.tables import metadata as meetings_metadata
    from chinwag.tables import metadata as core_metadata

    folder = project(tmp_path / "p", database)

    def development_build(connection: sa.Connection) -> None:
        schema_0_1.create_0_1_database(connection)
        core_metadata.create_all(connection, tables=[core_metadata.tables["visitor_visits"],
                                                     core_metadata.tables["health_probe"]])
        limits_metadata.create_all(connection, tables=[limits_metadata.tables["limit_counts"]])
        meetings_metadata.create_all(connection, tables=[meetings_metadata.tables["token_refresh_leases"]])

    on_database(database, development_build)
    upgraded = db("upgrade", "--project", str(folder))
    assert upgraded.exit_code == 0, upgraded.output
    assert re.search(rf"^chinwag: none -> {CORE_HEAD} \(tables made before migrations: adopted at 0004\)$",
                     upgraded.output, re.M), upgraded.output
    assert re.search(rf"^meetings: none -> {MEETINGS_HEAD} \(tables made before migrations: adopted at 0002\)$",
                     upgraded.output, re.M), upgraded.output
    checked = db("check", "--project", str(folder))
    assert checked.exit_code == 0, checked.output


def test_every_source_goes_down_one_step_and_up_again(tmp_path: Path, database: str) -> None:
    folder = project(tmp_path / "p", database)
    assert db("upgrade", "--project", str(folder)).exit_code == 0
    heads = dict(line.split(": ", 1) for line in db("current", "--project", str(folder)).output.splitlines())
    assert heads["chinwag"] == f"{CORE_HEAD} (head)" and heads["meetings"] == f"{MEETINGS_HEAD} (head)"
    for source in heads:
        down = db("downgrade", source, "--project", str(folder))
        assert down.exit_code == 0, down.output
    below = dict(line.split(": ", 1) for line in db("current", "--project", str(folder)).output.splitlines())
    assert below["chinwag"] == f"{CORE_PREVIOUS} (head is {CORE_HEAD})"
    assert below["meetings"] == f"{MEETINGS_PREVIOUS} (head is {MEETINGS_HEAD})"
    assert below["notifications"] == "none (head is 0001)"
    assert {"ix_events_name", "ix_events_dialogue_id"} <= on_database(database, event_indexes)  # 0008 undone
    assert db("upgrade", "--project", str(folder)).exit_code == 0
    checked = db("check", "--project", str(folder))
    assert checked.exit_code == 0, checked.output
    assert checked.output.strip() == "the database matches the declared schema"
    assert not {"ix_events_name", "ix_events_dialogue_id"} & on_database(database, event_indexes)


def test_a_fresh_database_upgraded_is_what_the_app_declares(tmp_path: Path, database: str) -> None:
    """No table, column or index declared by core or a plugin is left out of the migrations."""
    folder = project(tmp_path / "p", database)
    before = db("check", "--project", str(folder))
    assert before.exit_code == 1 and f"chinwag: none < {CORE_HEAD}: not at head" in before.output
    upgraded = db("upgrade", "--project", str(folder))
    assert upgraded.exit_code == 0, upgraded.output
    checked = db("check", "--project", str(folder))
    assert checked.exit_code == 0, checked.output
    versions = {name for name in on_database(database, table_names) if name.startswith("alembic_version_")}
    assert versions == {"alembic_version_chinwag", "alembic_version_meetings", "alembic_version_notifications",
                        "alembic_version_admin_console"}
    again = db("upgrade", "--project", str(folder))
    assert again.exit_code == 0 and f"chinwag: {CORE_HEAD} (at head)" in again.output


class ThirdPartyPlugin:
    """A plugin with a table of its own and migrations beside its code (written by the test)."""

    metadata = sa.MetaData()
    notes = sa.Table("acme_notes", metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("text", sa.Text, nullable=False), sa.Column("pinned", sa.Boolean, nullable=False))
    folder: Path

    @staticmethod
    @hookimpl
    def register_tables(register: Callable[[Any], Any]) -> None:
        register(ThirdPartyPlugin.notes)

    @staticmethod
    @hookimpl
    def register_migrations(register: Callable[[Any], Any]) -> None:
        register(MigrationSource("acme", ThirdPartyPlugin.folder, [ThirdPartyPlugin.notes]))


def write_source(folder: Path, revisions: dict[str, str]) -> Path:
    """An Alembic script directory: the two-line env.py and one file per revision."""
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text("from chinwag.migration_env import run_migrations\n\nrun_migrations()\n")
    for name, text in revisions.items():
        (folder / "versions" / f"{name}.py").write_text(text)
    return folder


FIRST = '''
import sqlalchemy as sa
from alembic import op

revision = "a1"
down_revision = None


def upgrade():
    op.create_table("acme_notes", sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.Text, nullable=False))


def downgrade():
    op.drop_table("acme_notes")
'''
SECOND = '''
import sqlalchemy as sa
from alembic import op

revision = "a2"
down_revision = "a1"


def upgrade():
    with op.batch_alter_table("acme_notes") as batch:
        batch.add_column(sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("acme_notes") as batch:
        batch.alter_column("pinned", server_default=None)


def downgrade():
    with op.batch_alter_table("acme_notes") as batch:
        batch.drop_column("pinned")
'''


def test_a_plugin_ships_its_migrations_and_check_names_what_they_leave_out(tmp_path: Path, database: str) -> None:
    folder = project(tmp_path / "p", database)
    ThirdPartyPlugin.folder = write_source(tmp_path / "acme_migrations", {"a1_notes": FIRST})
    with registered_plugin(ThirdPartyPlugin, "acme"):
        assert db("upgrade", "--project", str(folder)).exit_code == 0
        checked = db("check", "--project", str(folder))
        assert checked.exit_code == 1
        assert "acme: column acme_notes.pinned is missing" in checked.output
        on_database(database, lambda c: c.execute(sa.text("INSERT INTO acme_notes (id, text) VALUES (1, 'kept')")))

        (ThirdPartyPlugin.folder / "versions" / "a2_pinned.py").write_text(SECOND)  # the plugin's next release
        from chinwag.schema_migrate import script_directory

        script_directory.cache_clear()
        upgraded = db("upgrade", "--project", str(folder))
        assert "acme: a1 -> a2" in upgraded.output and f"chinwag: {CORE_HEAD} (at head)" in upgraded.output
        assert db("check", "--project", str(folder)).exit_code == 0
        rows = on_database(database, lambda c: c.execute(sa.text("SELECT id, text, pinned FROM acme_notes")).all())
        assert [tuple(row) for row in rows] == [(1, "kept", False)]
        assert "alembic_version_acme" in on_database(database, table_names)


class TablesWithoutMigrations:
    """A plugin written before migrations: its table is created as declared, and check says so."""

    metadata = sa.MetaData()
    legacy = sa.Table("legacy_plugin_rows", metadata, sa.Column("id", sa.Integer, primary_key=True))

    @staticmethod
    @hookimpl
    def register_tables(register: Callable[[Any], Any]) -> None:
        register(TablesWithoutMigrations.legacy)


def test_a_table_no_source_owns_is_created_and_named_by_check(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}"
    folder = project(tmp_path / "p", database)
    with registered_plugin(TablesWithoutMigrations, "legacy-plugin"):
        assert db("upgrade", "--project", str(folder)).exit_code == 0
        assert "legacy_plugin_rows" in on_database(database, table_names)
        checked = db("check", "--project", str(folder))
    assert checked.exit_code == 1
    assert "table legacy_plugin_rows is declared but no migration source owns it" in checked.output


def test_two_upgrades_at_once_on_postgresql_both_succeed(tmp_path: Path, postgres_url: str) -> None:
    folder = project(tmp_path / "p", postgres_url)
    on_database(postgres_url, schema_0_1.create_0_1_database)  # adoption too, not only new tables
    command = [CHINWAG, "db", "upgrade", "--project", str(folder)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert sum("adopted" in out for out, _ in outputs) == 1  # the second waited, then found it done
    assert db("check", "--project", str(folder)).exit_code == 0
    versions = on_database(postgres_url, lambda c: c.execute(sa.text("SELECT version_num FROM alembic_version_chinwag")).all())
    assert [row[0] for row in versions] == [CORE_HEAD]


def serve_once(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``chinwag serve`` as production runs it, expected to refuse and exit."""
    return subprocess.run([CHINWAG, "serve", str(folder), "--port", str(free_port()), *args], capture_output=True,
                          text=True, timeout=180, env={**os.environ, **NOT_MIGRATING})


def test_serve_refuses_a_postgresql_schema_behind_the_code_and_migrate_upgrades_it(
        tmp_path: Path, postgres_url: str) -> None:
    folder = project(tmp_path / "p", postgres_url, response_delay=0)
    refused = serve_once(folder)
    assert refused.returncode == 1, refused.stderr
    line = refused.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"the database schema is behind this chinwag \(chinwag: none < {CORE_HEAD}(, \w+: none < \w+)+\); "
                        rf"run: chinwag db upgrade --project {re.escape(str(folder.resolve()))}", line), line
    assert "alembic_version_chinwag" not in on_database(postgres_url, table_names)  # nothing migrated by surprise

    assert db("upgrade", "--project", str(folder)).exit_code == 0
    assert db("downgrade", "chinwag", "--project", str(folder)).exit_code == 0
    behind = serve_once(folder).stderr.strip().splitlines()[-1]
    assert behind == (f"the database schema is behind this chinwag (chinwag: {CORE_PREVIOUS} < {CORE_HEAD}); "
                      f"run: chinwag db upgrade --project {folder.resolve()}")

    with ServerProcess(folder, env=NOT_MIGRATING, args=("--migrate",)) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert f"chinwag: {CORE_HEAD} (head)" in db("current", "--project", str(folder)).output


def test_sqlite_upgrades_by_default_and_database_migrate_false_refuses(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    on_database(url, schema_0_1.create_0_1_database)
    refusing = project(tmp_path / "strict", {"url": url, "migrate": False}, response_delay=0)
    refused = serve_once(refusing)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith("the database schema is behind this chinwag (chinwag: none")

    demo = project(tmp_path / "demo", url, response_delay=0)
    with ServerProcess(demo, env=NOT_MIGRATING, args=("--demo",)) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert db("check", "--project", str(demo)).exit_code == 0
    rows = on_database(url, lambda c: c.execute(sa.text("SELECT id FROM visitors ORDER BY id")).all())
    assert [row[0] for row in rows][:2] == ["v1", "v2"]


def test_a_command_on_a_schema_behind_says_what_to_run(tmp_path: Path, postgres_url: str) -> None:
    folder = project(tmp_path / "p", postgres_url)
    done = subprocess.run([CHINWAG, "purge", str(folder)], capture_output=True, text=True, timeout=180,
                          env={**os.environ, **NOT_MIGRATING})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].endswith(f"run: chinwag db upgrade --project {folder.resolve()}")


def test_a_schema_newer_than_the_code_is_refused_even_where_it_would_upgrade(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}"
    folder = project(tmp_path / "p", url)
    assert db("upgrade", "--project", str(folder)).exit_code == 0
    on_database(url, lambda c: c.execute(sa.text("UPDATE alembic_version_chinwag SET version_num = 'from_the_future'")))
    done = subprocess.run([CHINWAG, "purge", str(folder)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 1  # CHINWAG_MIGRATE=1 here: still refused, never "upgraded" past what it knows
    assert done.stderr.strip().splitlines()[-1].startswith(
        "the database schema is newer than this chinwag (chinwag: from_the_future unknown); run the chinwag release")


def test_database_migrate_is_auto_true_or_false(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chinwag.config import read_config
    from chinwag.schema_policy import should_migrate

    config, problems = read_config(write_project(tmp_path / "p", {"database": {"url": "sqlite+aiosqlite:///x.db",
                                                                               "migrate": "sometimes"}}))
    assert [str(problem).split(": ", 1)[1] for problem in problems] == ["database.migrate: must be auto, true or false"]
    assert config.migrate is None and config.database.endswith("/x.db")
    assert should_migrate("postgresql+asyncpg://h/db", None) is True  # the test kit's CHINWAG_MIGRATE=1
    monkeypatch.delenv("CHINWAG_MIGRATE")  # as in production: the project's policy decides
    assert should_migrate("sqlite+aiosqlite:///x.db", None) is True
    assert should_migrate("postgresql+asyncpg://h/db", None) is False
    assert should_migrate("postgresql+asyncpg://h/db", True) is True
    assert should_migrate("sqlite+aiosqlite:///x.db", False) is False
    assert should_migrate("postgresql+asyncpg://h/db", False, flag=True) is True

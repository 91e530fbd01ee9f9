"""Hooks that later features build on: each is called, and what it registers arrives.

Also the two meta-tests: every hook has a section in docs/plugins.md and is exercised by a test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import httpx
import sqlalchemy as sa

from chinwag import hookimpl, hookspecs
from chinwag.testing import ServerThread, registered_plugin

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "chinwag_spec"))


class ExtensionPlugin:
    """A third party's plugin: a table of its own, a CRM connector, a routing strategy, a provider."""

    table = None

    metadata = sa.MetaData()
    example_table = sa.Table("crm_outbox_example", metadata, sa.Column("id", sa.Integer, primary_key=True),
                             sa.Column("payload", sa.JSON, nullable=False))

    @staticmethod
    @hookimpl
    def register_tables(register: Callable[[Any], Any]) -> None:
        register(ExtensionPlugin.example_table)

    @staticmethod
    @hookimpl
    def register_crm_connectors(register: Callable[[Any], Any]) -> None:
        register(type("ExampleCrm", (), {"name": "example-crm"})())

    @staticmethod
    @hookimpl
    def register_routing_strategies(register: Callable[[Any], Any]) -> None:
        register(type("Alphabetical", (), {"name": "alphabetical"})())

    @staticmethod
    @hookimpl
    def register_calendar_providers(register: Callable[[Any], Any]) -> None:
        register(type("PaperDiary", (), {"name": "paper-diary"})())

    @staticmethod
    @hookimpl
    def prepare_theme(theme: dict[str, Any]) -> None:
        theme["vars"]["--cw-primary"] = "#123456"


def test_registered_extensions_arrive_stamped_and_tables_are_created(chinwag_project: Path) -> None:
    with registered_plugin(ExtensionPlugin, "example-extension"), ServerThread(chinwag_project, demo=False) as server:
        app = server.app
        assert app.crm_connectors.plugin_of("example-crm") == "example-extension"
        assert app.routing_strategies.plugin_of("alphabetical") == "example-extension"
        assert app.calendar_providers.plugin_of("paper-diary") == "example-extension"
        assert app.theme["vars"]["--cw-primary"] == "#123456"

        async def write_and_read(app: Any) -> Any:
            table = app.store.metadata.tables["crm_outbox_example"]
            async with app.store.transaction() as connection:
                await connection.execute(sa.insert(table).values(payload={"lead": "ada@example.com"}))
            async with app.store.connect() as connection:
                return (await connection.execute(sa.select(table.c.payload))).scalar()

        assert server.call(write_and_read) == {"lead": "ada@example.com"}
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_every_hook_has_a_documented_section() -> None:
    docs = (ROOT / "docs" / "plugins.md").read_text()
    missing = [hook for hook in HOOKS if not re.search(rf"^### `?{hook}\(", docs, re.MULTILINE)]
    assert missing == [], f"hooks without a section in docs/plugins.md: {missing}"


def test_every_hook_is_implemented_by_a_plugin_the_tests_run() -> None:
    """Each hook has an implementation in a test, a tested plugin or the example plugin."""
    patterns = ("tests/**/*.py", "plugins/*/tests/**/*.py", "plugins/*/chinwag_*/**/*.py", "examples/plugins/**/*.py")
    sources = "\n".join(path.read_text() for pattern in patterns for path in ROOT.glob(pattern))
    assert [hook for hook in HOOKS if f"def {hook}(" not in sources] == []


def test_every_hook_has_a_docstring() -> None:
    assert [hook for hook in HOOKS if not (getattr(hookspecs, hook).__doc__ or "").strip()] == []

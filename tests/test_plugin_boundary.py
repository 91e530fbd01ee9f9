"""One plugin boundary for built-ins and third parties: every hook isolated, every hook may be
async, sections, tables and event types declared by plugins, and meetings using only those doors.

The command-line cases run real ``chinwag`` processes with ``chinwag-raising-plugin`` installed
(``tests/plugins/raising_plugin``: it raises in the hook named by ``RAISING_PLUGIN_HOOK``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import click
import httpx
import pytest
import sqlalchemy as sa

from chinwag import hookimpl
from chinwag.app import Chinwag
from chinwag.attributes import Attribute
from chinwag.cards import CardContext, Outcome
from chinwag.config import ConfigSection
from chinwag.events import EventType
from chinwag.plugins import PluginHost
from chinwag.problems import InvalidProject, Problem
from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerProcess, ServerThread, registered_plugin, write_project

CHINWAG = str(Path(sys.executable).with_name("chinwag"))
PLUGIN = "raising-in-process"


def chinwag(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("CHINWAG_", "RAISING_"))}
    return subprocess.run([CHINWAG, *args], capture_output=True, text=True, timeout=60, env={**clean, **env})


class RaisingPlugin:
    """Implements every hook; raises ``RuntimeError`` in the one it is told to."""

    def __init__(self, hook: str) -> None:
        self.hook = hook

    def _maybe_raise(self, hook: str) -> None:
        if hook == self.hook:
            raise RuntimeError(f"told to fail in {hook}")

    @hookimpl
    def register_cards(self, register: Any) -> None:
        self._maybe_raise("register_cards")

    @hookimpl
    def register_attributes(self, register: Any) -> None:
        self._maybe_raise("register_attributes")

    @hookimpl
    def register_calendar_providers(self, register: Any) -> None:
        self._maybe_raise("register_calendar_providers")

    @hookimpl
    def register_routing_strategies(self, register: Any) -> None:
        self._maybe_raise("register_routing_strategies")

    @hookimpl
    def register_crm_connectors(self, register: Any) -> None:
        self._maybe_raise("register_crm_connectors")

    @hookimpl
    def register_tables(self, register: Any) -> None:
        self._maybe_raise("register_tables")

    @hookimpl
    def register_config_sections(self, register: Any) -> None:
        self._maybe_raise("register_config_sections")

    @hookimpl
    def register_event_types(self, register: Any) -> None:
        self._maybe_raise("register_event_types")

    @hookimpl
    def prepare_theme(self, theme: Any) -> None:
        self._maybe_raise("prepare_theme")

    @hookimpl
    def check_config(self, config: Any) -> list[Problem]:
        self._maybe_raise("check_config")
        return []

    @hookimpl
    def register_routes(self, register: Any) -> None:
        self._maybe_raise("register_routes")

    @hookimpl
    async def startup(self, app: Any) -> None:
        self._maybe_raise("startup")

    @hookimpl
    async def shutdown(self, app: Any) -> None:
        self._maybe_raise("shutdown")

    @hookimpl
    async def chat_event(self, event: Any) -> None:
        self._maybe_raise("chat_event")


IN_PROCESS_HOOKS = [name for name in dir(RaisingPlugin) if not name.startswith("_")]


@pytest.mark.parametrize("hook", IN_PROCESS_HOOKS)
async def test_a_plugin_raising_in_any_hook_is_marked_and_the_chat_goes_on(hook: str, chinwag_project: Path) -> None:
    with registered_plugin(RaisingPlugin(hook), PLUGIN):
        with ServerThread(chinwag_project, demo=False) as server:
            async with ScriptedVisitor(server) as visitor:
                await visitor.connect()
                assert (await visitor.question())["card"] == "interest"
                await visitor.answer("demo")
                assert (await visitor.question())["card"] == "name"
            server.call(lambda app: app.events.drain())
            assert httpx.get(f"{server.url}/healthz").status_code == 200
            assert "message" in server.app.cards and "meeting" in server.app.cards  # the others went on
        [entry] = [entry for entry in server.app.plugins.listing() if entry["name"] == PLUGIN]
        assert entry["status"] == f"error: {hook}: RuntimeError: told to fail in {hook}"


def test_a_failing_register_commands_loses_only_that_plugins_commands() -> None:
    result = chinwag("plugins", RAISING_PLUGIN_HOOK="register_commands")
    assert result.returncode == 0, result.stderr
    statuses = {entry["name"]: entry["status"] for entry in json.loads(result.stdout)}
    assert statuses["chinwag-raising-plugin"] == ("error: register_commands: RuntimeError: "
                                                  "raising plugin was told to fail in register_commands")
    assert statuses["chinwag-quote-card"] == "active"
    assert chinwag("quote-card-hello", RAISING_PLUGIN_HOOK="register_commands").stdout.strip() == "hello from chinwag-quote-card"


def test_validate_goes_on_past_a_failing_plugin_and_plugins_project_shows_it() -> None:
    result = chinwag("validate", str(QUICKSTART), RAISING_PLUGIN_HOOK="register_cards")
    assert result.returncode == 0, result.stderr
    assert "plugin chinwag-raising-plugin failed in hook register_cards" in result.stderr
    listing = json.loads(chinwag("plugins", "--project", str(QUICKSTART), RAISING_PLUGIN_HOOK="check_config").stdout)
    [entry] = [entry for entry in listing if entry["name"] == "chinwag-raising-plugin"]
    assert entry["status"] == "error: check_config: RuntimeError: raising plugin was told to fail in check_config"


@pytest.mark.parametrize("command", [("validate", str(QUICKSTART)), ("plugins",)])
def test_strict_mode_makes_a_failing_hook_fatal_in_one_line(command: tuple[str, ...]) -> None:
    hook = "register_cards" if command[0] == "validate" else "register_commands"
    result = chinwag(*command, CHINWAG_STRICT_PLUGINS="1", CHINWAG_LOAD_PLUGINS="chinwag-raising-plugin",
                     RAISING_PLUGIN_HOOK=hook)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"chinwag: plugin chinwag-raising-plugin: {hook}: RuntimeError: raising plugin was told to fail in {hook}"]


def plain_project(path: Path) -> Path:
    """A project with one dialogue and no meetings."""
    return write_project(path, {"name": "plain", "response_delay": 0, "database": "sqlite+aiosqlite:///plain.db"},
                         {"hello": {"id": "hello", "name": "Hello", "cards": [
                             {"id": "name", "type": "capture", "text": "Your name?", "field": "lead.firstName"},
                             {"id": "bye", "type": "end", "text": "Thanks {{lead.firstName}}!"}]}})


def test_strict_mode_refuses_to_serve_when_startup_fails(tmp_path: Path) -> None:
    project = plain_project(tmp_path / "p")
    server = ServerProcess(project, env={"CHINWAG_STRICT_PLUGINS": "1", "CHINWAG_LOAD_PLUGINS": "chinwag-raising-plugin",
                                         "RAISING_PLUGIN_HOOK": "startup"})
    with pytest.raises(RuntimeError, match="exited with 1"):
        server.start()
    log = server.log()
    assert ("chinwag cannot start: plugin chinwag-raising-plugin: startup: RuntimeError: "
            "raising plugin was told to fail in startup") in log
    assert "Traceback" not in log


def test_without_strict_mode_a_failing_startup_is_served_and_listed(tmp_path: Path) -> None:
    project = plain_project(tmp_path / "p")
    with ServerProcess(project, env={"CHINWAG_LOAD_PLUGINS": "chinwag-raising-plugin",
                                     "RAISING_PLUGIN_HOOK": "startup"}) as server:
        listing = httpx.get(f"{server.url}/-/plugins.json").json()
    assert listing == [{"name": "chinwag-raising-plugin", "version": "0.0.1",
                        "hooks": ["check_config", "forget_person", "purge_expired", "register_cards", "register_commands",
                                  "register_notifiers", "register_routes", "startup"],
                        "status": "error: startup: RuntimeError: raising plugin was told to fail in startup"}]


class AsyncEverywhere:
    """Every hook that used to refuse an awaitable, implemented as a coroutine function."""

    table = sa.Table("async_plugin_notes", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))

    @staticmethod
    @hookimpl
    async def prepare_theme(theme: dict[str, Any]) -> None:
        theme["vars"]["--cw-primary"] = "#0b7a3e"

    @staticmethod
    @hookimpl
    async def check_config(config: Any) -> list[Problem]:
        if config.sections.get("notes", {}).get("colour") == "plaid":
            return [Problem(str(config.file), None, "notes.colour", "plaid is not a colour")]
        return []

    @staticmethod
    @hookimpl
    async def register_tables(register: Callable[[Any], Any]) -> None:
        register(AsyncEverywhere.table)

    @staticmethod
    @hookimpl
    async def register_config_sections(register: Callable[[Any], Any]) -> None:
        register(ConfigSection("notes", "an async plugin's settings"))

    @staticmethod
    @hookimpl
    async def register_routes(register: Callable[[Any], Any]) -> None:
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        register(Route("/async-notes", lambda request: PlainTextResponse("notes")))

    @staticmethod
    @hookimpl
    async def register_commands(cli: click.Group) -> None:
        cli.add_command(click.Command("async-notes", callback=lambda: click.echo("notes")))


async def test_every_hook_may_be_a_coroutine(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, config={"notes": {"colour": "green"}})
    with registered_plugin(AsyncEverywhere, "async-everywhere"):
        with ServerThread(project, demo=False) as server:
            assert server.app.theme["vars"]["--cw-primary"] == "#0b7a3e"
            assert httpx.get(f"{server.url}/async-notes").text == "notes"
            assert "async_plugin_notes" in server.call(_table_names)
        group = click.Group()
        server.app.plugins.call("register_commands", cli=group)
        assert "async-notes" in group.commands
        write_project(project, config={"notes": {"colour": "plaid"}})
        with pytest.raises(InvalidProject, match="notes.colour: plaid is not a colour"):
            Chinwag.from_project(project)


async def _table_names(app: Chinwag) -> set[str]:
    assert app.store is not None
    async with app.store.connect() as connection:
        return set(await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names()))


def test_undeclared_sections_are_unknown_with_their_line(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, config={"notes": {"colour": "green"}})
    with pytest.raises(InvalidProject) as refused:
        Chinwag.from_project(project)
    [problem] = refused.value.problems
    assert problem.where == "notes" and problem.message.startswith("unknown setting (known: ")
    assert problem.line == (project / "chinwag.yaml").read_text().splitlines().index("notes:") + 1
    assert "agents" in problem.message and "meetings" in problem.message  # declared by the meetings plugin


def test_each_app_has_its_own_schema(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART)
    with registered_plugin(AsyncEverywhere, "async-everywhere"):
        with_plugin = Chinwag.from_project(project)
    without_plugin = Chinwag.from_project(project)
    assert "async_plugin_notes" in with_plugin.metadata.tables
    assert "async_plugin_notes" not in without_plugin.metadata.tables
    assert with_plugin.metadata is not without_plugin.metadata
    assert with_plugin.tables.plugin_of("async_plugin_notes") == "async-everywhere"
    assert without_plugin.tables.plugin_of("meetings") == "chinwag.meetings.plugin"


class StampCard:
    """A card that emits a plugin's own event type, ``stamp_collected``."""

    name = "stamp"

    def check(self, card: Any, dialogue: Any, attributes: Any) -> list[str]:
        return []

    def enter(self, card: Any, context: CardContext) -> Outcome:
        return Outcome(say=("Here is a stamp.",), events=(("stamp_collected", {"stamp": card.get("stamp", "plain")}),))

    def receive(self, card: Any, context: CardContext, value: Any) -> Outcome:
        raise AssertionError("a stamp card asks nothing")

    def targets(self, card: Any) -> list[str | None]:
        return [None]


class StampPlugin:
    """Registers the card and, unless told not to, its event type."""

    declare = True

    @staticmethod
    @hookimpl
    def register_cards(register: Callable[[Any], Any]) -> None:
        register(StampCard())

    @staticmethod
    @hookimpl
    def register_event_types(register: Callable[[Any], Any]) -> None:
        if StampPlugin.declare:
            register(EventType("stamp_collected", "The visitor was given a stamp."))


STAMP_DIALOGUE = {"id": "stamps", "name": "Stamps", "cards": [
    {"id": "s", "type": "stamp", "stamp": "penny black"},
    {"id": "q", "type": "capture", "text": "Your name?", "field": "lead.firstName"}]}


async def test_a_plugins_event_type_is_stored_reported_and_sent_to_the_client(tmp_path: Path) -> None:
    from chinwag.reports import dialogue_report

    project = write_project(tmp_path / "p", {"name": "stamps", "response_delay": 0}, {"stamps": STAMP_DIALOGUE})
    with registered_plugin(StampPlugin, "stamps"), ServerThread(project, demo=False) as server:
        async with ScriptedVisitor(server) as visitor:
            await visitor.connect()
            while "stamp_collected" not in visitor.events():
                await visitor.until("event")
        report = server.call(lambda app: dialogue_report(app, 1))
    assert "stamp_collected" in report["counted"]
    assert report["dialogues"]["stamps"]["stamp_collected"] == 1


async def test_an_undeclared_event_type_is_refused_and_nothing_is_stored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    project = write_project(tmp_path / "p", {"name": "stamps", "response_delay": 0}, {"stamps": STAMP_DIALOGUE})
    StampPlugin.declare = False
    try:
        with registered_plugin(StampPlugin, "stamps"), ServerThread(project, demo=False) as server:
            async with ScriptedVisitor(server) as visitor:
                error = await visitor.connect()  # the first turn could not be stored
            sessions = server.call(_count_sessions)
    finally:
        StampPlugin.declare = True
    assert error["code"] == "internal"
    assert sessions == 0
    assert "emitted stamp_collected, which no plugin registered (register_event_types)" in caplog.text


async def _count_sessions(app: Chinwag) -> int:
    assert app.store is not None
    async with app.store.connect() as connection:
        return int((await connection.execute(sa.text("SELECT count(*) FROM sessions"))).scalar_one())


def test_typed_plugin_state_is_per_app(tmp_path: Path) -> None:
    from chinwag.meetings.state import MeetingsState

    project = write_project(tmp_path / "p", copy_from=QUICKSTART)
    first, second = Chinwag.from_project(project), Chinwag.from_project(project)
    assert isinstance(first.plugin_state(MeetingsState), MeetingsState)
    assert first.plugin_state(MeetingsState) is first.plugin_state(MeetingsState)
    assert first.plugin_state(MeetingsState) is not second.plugin_state(MeetingsState)
    assert set(first.plugin_state(MeetingsState).settings.agents) == {"ada@example.com", "grace@example.com", "linus@example.com"}


# -- meetings use only the public doors: blocking them leaves a plain chat server ---------------------

NO_MEETINGS = {"CHINWAG_DISABLE_PLUGINS": "chinwag.meetings.plugin"}


async def test_blocking_the_meetings_plugin_leaves_a_working_chat_server_without_meetings(tmp_path: Path) -> None:
    project = plain_project(tmp_path / "p")
    with ServerProcess(project, env=NO_MEETINGS) as server:
        async with ScriptedVisitor(server) as visitor:
            await visitor.connect()
            await visitor.question()
            await visitor.answer("Ada")
            while "completed" not in visitor.events():
                await visitor.until("event")
        assert "Thanks Ada!" in visitor.texts()
        builtins = [entry["name"] for entry in httpx.get(f"{server.url}/-/plugins.json?all=1").json()]
        assert "chinwag.default_cards" in builtins and "chinwag.meetings.plugin" not in builtins
        assert httpx.get(f"{server.url}/-/oauth/google/callback").status_code == 404
    tables = {row[0] for row in sqlite3.connect(project / "plain.db").execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"visitors", "sessions", "events", "outbox"} <= tables
    assert not tables & {"agents", "meetings", "meeting_claims", "routing_pointers", "calendar_connect_requests"}
    report = json.loads(chinwag("report", str(project), "--json", **NO_MEETINGS).stdout)
    assert "meeting_booked" not in report["counted"] and report["dialogues"]["hello"]["completed"] == 1
    assert "meeting_booked" in json.loads(chinwag("report", str(project), "--json").stdout)["counted"]
    assert "No such command 'agents'" in chinwag("agents", "list", **NO_MEETINGS).stderr


def test_without_the_meetings_plugin_its_sections_and_card_are_unknown() -> None:
    result = chinwag("validate", str(QUICKSTART), **NO_MEETINGS)
    assert result.returncode == 1
    assert "chinwag.yaml:" in result.stderr
    for expected in ("agents: unknown setting", "meetings: unknown setting", "unknown card type 'meeting'"):
        assert expected in result.stderr


def test_the_host_can_be_made_without_meetings_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHINWAG_DISABLE_PLUGINS", "chinwag.meetings.plugin")
    host = PluginHost()
    project = write_project(tmp_path / "p", {"name": "plain"}, {"hello": {"id": "hello", "name": "Hello", "cards": [
        {"id": "bye", "type": "end", "text": "Bye"}]}})
    app = Chinwag.from_project(project, host)
    assert "meeting" not in app.cards and "meeting_booked" not in app.event_types
    assert not {"agents", "meetings"} & set(app.config_sections.names())
    assert not {"agents", "meetings", "meeting_claims"} & set(app.metadata.tables)
    assert isinstance(app.attributes.get("lead.email"), Attribute)


class TakesACoreTableName:
    """Registers a table named like one of core's."""

    table = sa.Table("sessions", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))

    @staticmethod
    @hookimpl
    def register_tables(register: Callable[[Any], Any]) -> None:
        register(TakesACoreTableName.table)


def test_a_plugin_table_named_like_a_core_table_is_refused_and_the_plugin_marked(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART)
    with registered_plugin(TakesACoreTableName, "core-table-taker"):
        app = Chinwag.from_project(project)
        [entry] = [entry for entry in app.plugins.listing() if entry["name"] == "core-table-taker"]
    assert entry["status"] == ("error: register_tables: PluginError: plugin core-table-taker registered table "
                               "'sessions', which core already has")
    assert [column.name for column in app.metadata.tables["sessions"].columns][:2] == ["id", "visitor_id"]

"""The plugin host, with real plugin distributions installed into the environment.

``make test`` installs ``examples/plugins/quote_card`` (a working plugin) and the two broken
ones under ``tests/plugins/``; they are found through their ``chinwag`` entry points. Switches
that act at load time are tested in a fresh ``chinwag`` process, as a user would meet them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from chinwag.plugins import PluginError, PluginHost, Registry, await_me_maybe
from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerThread, registered_plugin, write_project

CHINWAG = str(Path(sys.executable).parent / "chinwag")


def chinwag(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CHINWAG_")}
    return subprocess.run([CHINWAG, *args], capture_output=True, text=True, timeout=60, env={**clean, **env})


def listing(*args: str, **env: str) -> list[dict]:
    result = chinwag("plugins", *args, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_installed_plugins_are_listed_sorted_with_status() -> None:
    plugins = {entry["name"]: entry for entry in listing()}
    assert [entry["name"] for entry in listing()] == sorted(plugins)
    quote = plugins["chinwag-quote-card"]
    assert quote["version"] == "0.1.0" and quote["status"] == "active"
    assert {"register_cards", "chat_event", "register_routes", "register_commands"} <= set(quote["hooks"])
    assert plugins["chinwag-broken-plugin"]["status"].startswith("error: import failed: ModuleNotFoundError")
    assert "unknown hook register_cardz" in plugins["chinwag-misspelled-plugin"]["status"]
    assert not any(name.startswith("chinwag.default") for name in plugins)


def test_all_adds_builtins_and_hook_filters() -> None:
    names = [entry["name"] for entry in listing("--all")]
    assert "chinwag.default_cards" in names and "chinwag.default_attributes" in names
    filtered = listing("--all", "--hook", "register_cards")
    assert {"chinwag-quote-card", "chinwag.default_cards"} <= {entry["name"] for entry in filtered}
    assert all("register_cards" in entry["hooks"] for entry in filtered)
    assert "chinwag.default_attributes" not in {entry["name"] for entry in filtered}


def test_requirements_are_listed() -> None:
    quote = next(entry for entry in listing("--requirements") if entry["name"] == "chinwag-quote-card")
    assert quote["requirements"] == ["chinwag"]


def test_broken_plugin_is_reported_on_stderr_and_the_rest_works() -> None:
    result = chinwag("quote-card-hello")
    assert result.returncode == 0
    assert result.stdout.strip() == "hello from chinwag-quote-card"
    assert "plugin chinwag-broken-plugin 0.0.1 skipped: import failed" in result.stderr


def test_strict_mode_makes_a_broken_plugin_fatal() -> None:
    result = chinwag("plugins", CHINWAG_STRICT_PLUGINS="1")
    assert result.returncode != 0
    assert "chinwag-broken-plugin" in result.stderr


def test_allow_list_loads_only_the_named_plugins() -> None:
    assert [entry["name"] for entry in listing(CHINWAG_LOAD_PLUGINS="chinwag-quote-card")] == ["chinwag-quote-card"]
    assert listing(CHINWAG_LOAD_PLUGINS="") == []


def test_block_list_disables_plugins_and_builtins() -> None:
    names = [entry["name"] for entry in listing("--all", CHINWAG_DISABLE_PLUGINS="chinwag-quote-card,chinwag.default_attributes")]
    assert "chinwag-quote-card" not in names and "chinwag.default_attributes" not in names
    assert "chinwag.default_cards" in names


def test_trace_logs_every_hook_call() -> None:
    result = chinwag("plugins", CHINWAG_TRACE_PLUGINS="1", CHINWAG_LOAD_PLUGINS="chinwag-quote-card")
    traced = [line for line in result.stderr.splitlines() if line.startswith("hook register_commands -> ")]
    assert traced and "'chinwag-quote-card'" in traced[0]


def test_plugins_json_serves_the_same_listing(chinwag_server: ServerThread) -> None:
    served = httpx.get(f"{chinwag_server.url}/-/plugins.json").json()
    assert served == chinwag_server.app.plugins.listing()
    assert any(entry["name"] == "chinwag-quote-card" for entry in served)
    assert "chinwag.default_cards" in [entry["name"] for entry in httpx.get(f"{chinwag_server.url}/-/plugins.json?all=1").json()]


async def test_plugin_card_route_events_and_lifecycle(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    project = write_project(tmp_path / "p", copy_from=QUICKSTART,
                            config={"plugins": {"quote_card": {"event_log": str(log)}}},
                            dialogues={"welcome": {"id": "welcome", "name": "Quotes", "cards": [
                                {"id": "q", "type": "quote", "quotes": ["Best chat ever.", "Second quote"]},
                                {"id": "colour", "type": "capture", "text": "Colour?", "field": "lead.favouriteColour"}]}})
    with ServerThread(project, demo=False) as server:
        from chinwag_quote_card import QuoteState

        assert server.app.plugin_state(QuoteState).started is True
        async with ScriptedVisitor(server) as visitor:
            await visitor.connect()
            await visitor.question()
            await visitor.answer("teal")
            await visitor.until("answered")
            while "completed" not in visitor.events():
                await visitor.until("event")
        assert visitor.texts()[0] == "Best chat ever."
        server.call(lambda app: app.events.drain())
        assert httpx.get(f"{server.url}/quote-card/count").json() == {"events": 4}
    names = [json.loads(line)["name"] for line in log.read_text().splitlines()]
    assert names == ["triggered", "answered", "engaged", "completed", "shutdown"]


def test_plugin_config_problems_stop_the_project(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART,
                            config={"plugins": {"quote_card": {"event_log": 42}}})
    result = chinwag("validate", str(project))
    assert result.returncode == 1
    assert "plugins.quote_card.event_log: must be a file path" in result.stderr


class FailingObserver:
    """A plugin whose observer raises: the chat must go on."""

    calls = 0

    @staticmethod
    def chat_event(event: object) -> None:
        FailingObserver.calls += 1
        raise RuntimeError("observer bug")


async def test_a_failing_observer_never_breaks_the_chat(chinwag_project: Path, caplog: pytest.LogCaptureFixture) -> None:
    from chinwag import hookimpl

    FailingObserver.chat_event = hookimpl(FailingObserver.chat_event)
    with registered_plugin(FailingObserver, "failing-observer"), ServerThread(chinwag_project, demo=False) as server:
        async with ScriptedVisitor(server) as visitor:
            await visitor.connect()
            await visitor.question()
            await visitor.answer("demo")
            assert (await visitor.question())["card"] == "name"
        server.call(lambda app: app.events.drain())
    assert FailingObserver.calls >= 3
    assert "plugin failing-observer failed in hook chat_event" in caplog.text


def test_duplicate_names_are_refused_naming_both_plugins() -> None:
    registry = Registry("card type")
    registry.register_for("first-plugin")(type("Card", (), {"name": "poll"})())
    with pytest.raises(PluginError, match="plugin second-plugin registered card type 'poll', which plugin first-plugin already registered"):
        registry.register_for("second-plugin")(type("Card", (), {"name": "poll"})())
    assert registry.plugin_of("poll") == "first-plugin"


def test_registered_objects_are_stamped_with_their_plugin(chinwag_server: ServerThread) -> None:
    app = chinwag_server.app
    assert app.cards.plugin_of("message") == "chinwag.default_cards"
    assert app.cards.plugin_of("quote") == "chinwag-quote-card"
    assert app.attributes.plugin_of("lead.favouriteColour") == "chinwag-quote-card"


def test_misspelled_in_process_plugin_is_refused() -> None:
    from chinwag import hookimpl

    class Misspelled:
        @hookimpl
        def chat_evnt(self, event: object) -> None:
            """Misspelled."""

    host = PluginHost()
    host.load()
    with pytest.raises(PluginError, match="unknown hook chat_evnt"):
        host.register_temporarily(Misspelled(), "misspelled-in-process")


async def test_await_me_maybe_takes_values_callables_and_coroutines() -> None:
    async def coroutine() -> int:
        return 3

    assert [await await_me_maybe(1), await await_me_maybe(lambda: 2), await await_me_maybe(coroutine())] == [1, 2, 3]
    assert await await_me_maybe(coroutine) == 3

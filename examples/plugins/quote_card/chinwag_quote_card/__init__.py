"""An example chinwag plugin: every kind of hook, in one small module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import attrs
import click
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chinwag import hookimpl
from chinwag.attributes import Attribute
from chinwag.cards import CardContext, Outcome
from chinwag.dialogue import Card, Dialogue
from chinwag.problems import Problem

PLUGIN = "quote_card"  # the entry-point name: the key of the plugin's settings under `plugins:`


@attrs.define
class QuoteState:
    """What this plugin keeps per app (``app.plugin_state(QuoteState)``)."""

    started: bool = False
    events: int = 0


class QuoteCard:
    """Shows one of the card's ``quotes``; the same answers always give the same quote."""

    name = "quote"

    def check(self, card: Card, dialogue: Dialogue, attributes: Any) -> list[str]:
        """``quotes`` must be a non-empty list of strings."""
        quotes = card.get("quotes")
        if not isinstance(quotes, list) or not quotes or not all(isinstance(q, str) for q in quotes):
            return ["'quotes' must be a non-empty list of strings"]
        return []

    def enter(self, card: Card, context: CardContext) -> Outcome:
        """Pick a quote deterministically and show it."""
        quotes = card.get("quotes")
        return Outcome(say=(quotes[len(context.answers) % len(quotes)],))

    def receive(self, card: Card, context: CardContext, value: Any) -> Outcome:
        """A quote asks nothing."""
        raise AssertionError("a quote card asks nothing")

    def targets(self, card: Card) -> list[str | None]:
        """Only the default way on."""
        return [None]


@hookimpl
def register_cards(register: Callable[[Any], Any]) -> None:
    """The ``quote`` card."""
    register(QuoteCard())


@hookimpl
def register_attributes(register: Callable[[Any], Any]) -> None:
    """A lead attribute of our own."""
    register(Attribute("lead.favouriteColour", "string", "Favourite colour"))


@hookimpl
def check_config(config: Any) -> list[Problem]:
    """``event_log`` must be a file path."""
    settings = config.plugin_config(PLUGIN)
    if "event_log" in settings and not isinstance(settings["event_log"], str):
        return [Problem(str(config.file), None, f"plugins.{PLUGIN}.event_log", "must be a file path")]
    return []


def _log_path(app: Any) -> Path | None:
    path = app.config.plugin_config(PLUGIN).get("event_log")
    return Path(path) if path else None


@hookimpl
def startup(app: Any) -> None:
    """Remember that we started (tests look)."""
    app.plugin_state(QuoteState).started = True


@hookimpl
def shutdown(app: Any) -> None:
    """Note the shutdown in the log."""
    path = _log_path(app)
    if path is not None:
        with path.open("a") as log:
            log.write(json.dumps({"name": "shutdown"}) + "\n")


@hookimpl
async def chat_event(event: Any, app: Any) -> None:
    """Append the event to the log file."""
    app.plugin_state(QuoteState).events += 1
    path = _log_path(app)
    if path is not None:
        with path.open("a") as log:
            log.write(json.dumps({"name": event.name, "dialogue": event.dialogue_id, "session": event.session_id}) + "\n")


async def count(request: Request) -> JSONResponse:
    """How many events this process observed."""
    return JSONResponse({"events": request.app.state.chinwag.plugin_state(QuoteState).events})


@hookimpl
def register_routes(register: Callable[[Any], Any]) -> None:
    """``GET /quote-card/count``."""
    register(Route("/quote-card/count", count))


@hookimpl
def register_commands(cli: click.Group) -> None:
    """``chinwag quote-card-hello``."""

    @cli.command(name="quote-card-hello")
    def hello() -> None:
        """Say hello from the example plugin."""
        click.echo("hello from chinwag-quote-card")

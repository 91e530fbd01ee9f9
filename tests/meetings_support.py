"""Shared by the meetings tests: calendar sandboxes, projects with agents, connecting, booking."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from chinwag.credentials import generate_key
from chinwag.testing import ScriptedVisitor, ServerThread, write_project
from click.testing import CliRunner

ALL_DAY = {day: ["00:00-24:00"] for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
FAST_RETRIES = {"max_retries": 2, "retry_base_delay": 0.01, "retry_max_delay": 1}


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A token encryption key, as a deployment sets it."""
    key = generate_key()
    monkeypatch.setenv("CHINWAG_SECRET_KEY", key)
    return key


@pytest.fixture
def google() -> Iterator[Any]:
    """The Google sandbox on loopback HTTP."""
    from chinwag_google_calendar.sandbox import serve_in_thread

    server = serve_in_thread()
    yield server
    server.stop()


@pytest.fixture
def outlook() -> Iterator[Any]:
    """The Microsoft sandbox on loopback HTTP."""
    from chinwag_outlook.sandbox import serve_in_thread

    server = serve_in_thread()
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def agent(email: str, provider: str = "google", **extra: Any) -> dict[str, Any]:
    """An agent free all day every day, 30-minute meetings, two days ahead."""
    return {"email": email, "name": email.split("@")[0].title(), "time_zone": "UTC", "provider": provider,
            "availability": ALL_DAY, "duration": 30, "horizon_days": 1, **extra}


def dialogue(**card: Any) -> dict[str, Any]:
    """Email, interest, then the meeting card, then goodbye."""
    return {"id": "book", "name": "Book a meeting", "cards": [
        {"id": "email", "type": "capture", "input": "email", "text": "Your email?", "field": "lead.email"},
        {"id": "interest", "type": "question", "text": "Why?", "field": "lead.interest",
         "buttons": [{"label": "Demo", "value": "demo"}, {"label": "Pricing", "value": "pricing"}]},
        {"id": "meeting", "type": "meeting", "text": "Pick a time", **card},
        {"id": "done", "type": "end", "text": "Bye!"},
    ]}


def project(path: Path, port: int, agents: list[dict[str, Any]], google: Any = None, outlook: Any = None,
            meetings: dict[str, Any] | None = None, database: str | None = None, **card: Any) -> Path:
    """A project whose callback URL is ``http://127.0.0.1:port``, with the given agents and sandboxes."""
    plugins = {}
    if google is not None:
        plugins["google_calendar"] = {**google.plugin_config(), **FAST_RETRIES}
    if outlook is not None:
        plugins["outlook"] = {**outlook.plugin_config(), **FAST_RETRIES}
    config: dict[str, Any] = {"name": "meetings", "response_delay": 0, "admin_token": "a-test-admin-token-0123456789",
                              "attributes": [{"name": "lead.interest"}, {"name": "lead.meetingAgent"}],
                              "plugins": plugins, "agents": agents,
                              "public_url": f"http://127.0.0.1:{port}", "meetings": {**(meetings or {})}}
    if database:
        config["database"] = database
    return write_project(path, config, {"book": dialogue(**card)})


def serve(project_dir: Path, port: int) -> ServerThread:
    return ServerThread(project_dir, port=port, demo=False)


async def consent(folder: Path, email: str, provider: str, account: str) -> tuple[dict[str, str], str, httpx.Response]:
    """``chinwag agents connect EMAIL``, then whoever is signed in as ``account`` allows access.

    Returns the consent URL's query, the consent page and the callback's answer.
    """
    result = await cli(folder, "agents", "connect", "--provider", provider, email)
    url = result.output.strip().splitlines()[-1]
    query = dict(parse_qsl(urlsplit(url).query))
    async with httpx.AsyncClient(follow_redirects=True) as browser:
        page = await browser.get(url)
        assert page.status_code == 200, page.text
        form = {"decision": "allow", "email": account, "redirect_uri": query["redirect_uri"], "state": query["state"],
                "scope": query.get("scope", "")}
        done = await browser.post(url.split("?")[0], data=form)
    return query, page.text, done


async def connect_agent(project_dir: Path, email: str, provider: str = "google") -> None:
    """``chinwag agents connect``, then the agent opens the link and allows access."""
    _, _, done = await consent(project_dir, email, provider, email)
    assert done.status_code == 200 and "Calendar connected" in done.text, done.text


async def cli(project_dir: Path, *args: str) -> Any:
    """Run ``chinwag ARGS --project project_dir`` (in a worker thread: it runs its own event loop)."""
    from chinwag.cli import cli as command

    result = await asyncio.to_thread(CliRunner().invoke, command, [*args, "--project", str(project_dir)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


async def to_slots(server: Any, email: str, interest: str = "demo", timezone: str = "Europe/London") -> tuple[ScriptedVisitor, dict]:
    """A visitor who gives their email and reaches the slot picker; returns the visitor and the question."""
    visitor = ScriptedVisitor(server, timezone=timezone)
    await visitor.connect()
    await visitor.question()
    await visitor.answer(email)
    await visitor.question()
    await visitor.answer(interest)
    question = await visitor.until("question", "message", timeout=30)
    return visitor, question


async def choose(visitor: ScriptedVisitor, slot_id: str) -> dict[str, Any]:
    """Answer the slot picker; return the first message that follows (booked, taken or failed)."""
    await visitor.answer(slot_id)
    return await visitor.until("message", timeout=60)


async def book(server: Any, email: str, slot: int = 0, **options: Any) -> tuple[ScriptedVisitor, dict]:
    """A visitor books the ``slot``-th time offered; returns the visitor and the reply message."""
    visitor, question = await to_slots(server, email, **options)
    assert question["type"] == "question" and question["input"]["kind"] == "slots", question
    reply = await choose(visitor, question["input"]["slots"][slot]["id"])
    return visitor, reply


def meetings_rows(server: ServerThread) -> list[dict[str, Any]]:
    """Every row of the meetings table."""
    import sqlalchemy as sa
    from chinwag.meetings.tables import meetings

    async def read(app: Any) -> list[dict[str, Any]]:
        async with app.store.connect() as connection:
            return [dict(row._mapping) for row in await connection.execute(sa.select(meetings).order_by(meetings.c.created_at))]

    return server.call(read)

"""Shared by the CRM and outbox delivery tests: the remote CRM on loopback and projects using it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from chinwag.sandbox import SandboxServer, serve_in_thread
from chinwag.testing import ScriptedVisitor, write_project
from chinwag_loopback_crm.remote import RemoteCrm, remote_app

PLUGIN = "loopback_crm"

# Every card kind that produces events a CRM cares about: answers, an email, a goal, the end.
DIALOGUE = {"id": "contact", "name": "Contact", "cards": [
    {"id": "name", "type": "capture", "text": "Your first name?", "field": "lead.firstName"},
    {"id": "email", "type": "capture", "input": "email", "text": "Your work email?", "field": "lead.email"},
    {"id": "hello", "type": "message", "text": 'Welcome, {{person.firstName:"friend"}} of {{company.name:"nowhere"}}.'},
    {"id": "goal", "type": "goal", "goal": "contact-given"},
    {"id": "bye", "type": "end", "text": "Thanks!"}]}


CHINWAG = str(Path(sys.executable).with_name("chinwag"))


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``chinwag`` as an operator would, without this process's CHINWAG_* variables (plus ``env``)."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CHINWAG_")}
    return subprocess.run([CHINWAG, *args], capture_output=True, text=True, timeout=120, env={**clean, **env})


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: SQLite in the test's folder, then PostgreSQL (``CHINWAG_TEST_POSTGRES_URL``)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def remote() -> Iterator[SandboxServer[RemoteCrm]]:
    """The remote CRM on a free loopback port."""
    state = RemoteCrm()
    with serve_in_thread(remote_app(state), state, lambda url, _: {"base_url": url}, label="remote CRM") as server:
        yield server


def crm_project(path: Path, remote: SandboxServer[RemoteCrm], database: str | None = None,
                outbox: dict[str, Any] | None = None, **settings: Any) -> Path:
    """A project whose CRM connector talks to ``remote``, with fast delivery settings."""
    config: dict[str, Any] = {
        "name": "crm", "response_delay": 0, "admin_token": "a-test-admin-token-0123456789",
        "plugins": {PLUGIN: {**remote.plugin_config(), "person_fields": ["firstName"], **settings}},
        "attributes": [{"name": "company.name"}],
        "outbox": {"base_delay": 0.05, "max_delay": 0.5, "poll_interval": 0.1, "lease_seconds": 2, "max_attempts": 1000,
                   **(outbox or {})}}
    if database:
        config["database"] = database
    return write_project(path, config, {"contact": DIALOGUE})


async def chat(server: Any, first_name: str, email: str) -> ScriptedVisitor:
    """One visitor through the whole dialogue; returns the visitor (its frames, its ids)."""
    async with ScriptedVisitor(server) as visitor:
        return await visitor.run_through(first_name, email)


async def chat_many(server: Any, count: int, prefix: str = "v", concurrency: int = 25) -> list[ScriptedVisitor]:
    """``count`` visitors, ``concurrency`` at a time."""
    limit = asyncio.Semaphore(concurrency)

    async def one(number: int) -> ScriptedVisitor:
        async with limit:
            return await chat(server, f"N{number}", f"{prefix}{number}@client.example")

    return list(await asyncio.gather(*(one(number) for number in range(count))))


async def wait_until(condition: Callable[[], Any], timeout: float = 60, message: str = "") -> None:
    """Poll ``condition`` (a function, or a coroutine function) until it holds; fail naming
    ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message or condition}")
        await asyncio.sleep(0.05)


async def query(database_url: str, sql: str) -> list[Any]:
    """The rows of a SQL query, read from outside the server (its own connection)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return list(await connection.execute(sa.text(sql)))
    finally:
        await engine.dispose()

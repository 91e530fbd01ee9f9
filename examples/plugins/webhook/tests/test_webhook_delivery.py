"""End to end: visitors chat with a real chinwag server; their events reach a real receiver
through the outbox, signed, once each, while the receiver fails and recovers; a wrong secret
loses nothing; bad settings are named with their lines."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chinwag.outbox import summary
from chinwag.testing import ScriptedVisitor, ServerThread, write_project

CHINWAG = str(Path(sys.executable).with_name("chinwag"))
FAST_OUTBOX = {"base_delay": 0.05, "max_delay": 0.5, "poll_interval": 0.1, "lease_seconds": 3, "max_attempts": 1000}
DIALOGUE = {"id": "contact", "name": "Contact", "cards": [
    {"id": "name", "type": "capture", "text": "Your first name?", "field": "lead.firstName"},
    {"id": "email", "type": "capture", "input": "email", "text": "Your work email?", "field": "lead.email"},
    {"id": "goal", "type": "goal", "goal": "contact-given"},
    {"id": "bye", "type": "end", "text": "Thanks!"}]}


def project(path: Path, settings: dict[str, Any]) -> Path:
    return write_project(path, {"name": "hooks", "response_delay": 0, "outbox": FAST_OUTBOX,
                                "plugins": {"webhook": settings}}, {"contact": DIALOGUE})


async def outbox_counts(app: Any) -> dict[str, int]:
    return dict((await summary(app.store)).get("webhook", {}))


async def wait_for(server: ServerThread, condition: Any, what: str, timeout: float = 60) -> dict[str, int]:
    """Poll the outbox's counts until ``condition(counts)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        counts = server.call(outbox_counts)
        if condition(counts):
            return counts
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {counts}"
        await asyncio.sleep(0.1)


async def chat(server: ServerThread, name: str, email: str) -> None:
    async with ScriptedVisitor(server) as visitor:
        await visitor.run_through(name, email)


async def test_events_arrive_signed_once_each_through_failures(tmp_path: Path, receiver: Any) -> None:
    receiver.state.fail_next = 5  # the first deliveries meet an outage
    with ServerThread(project(tmp_path / "p", receiver.plugin_config()), demo=False) as server:
        await chat(server, "Ada", "ada@client.example")
        await chat(server, "Grace", "grace@client.example")
        counts = await wait_for(server, lambda c: c.get("delivered", 0) and not c.get("pending"), "delivery")
    state = receiver.state
    assert state.fail_next == 0 and state.bad_signatures == []
    assert counts.get("skipped", 0) == 0 and counts.get("dead", 0) == 0
    assert max(state.arrivals.values()) > 1  # some were sent again after the outage...
    assert set(state.arrivals) == set(state.events)  # every delivery that arrived was applied in the end...
    assert len(state.order) == len(set(state.order))  # ...each once
    types = [state.events[key]["type"] for key in state.order]
    assert types.count("chat.goal_reached") == 2 and types.count("chat.completed") == 2
    assert state.leads == {"ada@client.example": {"lead.firstName": "Ada", "lead.email": "ada@client.example"},
                           "grace@client.example": {"lead.firstName": "Grace", "lead.email": "grace@client.example"}}
    [goal] = [state.events[k] for k in state.order
              if state.events[k]["type"] == "chat.goal_reached" and state.events[k]["email"] == "ada@client.example"]
    assert goal["data"]["goal"] == "contact-given" and goal["dialogue"] == {"id": "contact", "name": "Contact"}


async def test_a_wrong_secret_is_refused_by_the_receiver_and_nothing_is_lost(tmp_path: Path, receiver: Any) -> None:
    settings = {**receiver.plugin_config(), "secret": "not-the-receivers-secret-0123"}
    with ServerThread(project(tmp_path / "p", settings), demo=False) as server:
        await chat(server, "Ada", "ada@client.example")
        await wait_for(server, lambda c: c.get("pending", 0) > 0 and receiver.state.bad_signatures, "a refusal")
        assert receiver.state.order == [] and "does not match the body" in receiver.state.bad_signatures[0]
        receiver.state.secret = settings["secret"]  # the receiver is given the right secret
        counts = await wait_for(server, lambda c: c.get("delivered", 0) and not c.get("pending"), "delivery")
    assert counts.get("skipped", 0) == 0
    assert [receiver.state.events[k]["type"] for k in receiver.state.order].count("chat.completed") == 1


def test_settings_problems_are_named_with_their_lines(tmp_path: Path) -> None:
    folder = project(tmp_path / "p", {"url": "ftp://hooks.example", "secret": "short", "colour": "red",
                                      "event_types": "lead_captured", "batch_size": 0})
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHINWAG_")}
    result = subprocess.run([CHINWAG, "validate", str(folder)], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    for expected in ("plugins.webhook.url: must be an http:// or https:// URL",
                     "plugins.webhook.secret: is required: at least 16 characters",
                     "plugins.webhook.colour: unknown setting",
                     "plugins.webhook.event_types: must be a list of event type names",
                     "plugins.webhook.batch_size: must be a whole number from 1 to 500"):
        assert expected in result.stderr, result.stderr
    assert "chinwag.yaml:" in result.stderr

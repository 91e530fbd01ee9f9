"""The outbox end to end: real chats, a real CRM connector over loopback HTTP, real server
processes killed and run side by side; nothing lost, nothing applied twice, order kept per lead.

The remote CRM (``chinwag_loopback_crm.remote``) applies each activity key at most once, as a
careful remote does with idempotency keys, and counts every key that arrives.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from chinwag.testing import ServerProcess, ServerThread
from crm_support import chat, chat_many, crm_project, query, remote, wait_until  # noqa: F401

CHINWAG = str(Path(sys.executable).with_name("chinwag"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL a test's project uses, on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    return str(request.getfixturevalue("postgres_url"))


async def event_keys(database: str) -> list[tuple[str, str]]:
    """(key, visitor) of every stored event, in the order they happened."""
    return [(row.key, row.visitor_id) for row in await query(database, "SELECT key, visitor_id FROM events ORDER BY id")]


async def outbox_states(database: str) -> dict[str, int]:
    """How many outbox items are in each state."""
    return {row.state: row.count for row in await query(database, "SELECT state, count(*) AS count FROM outbox GROUP BY state")}


async def all_delivered(database: str) -> bool:
    """Whether every outbox item is delivered."""
    states = await outbox_states(database)
    return bool(states) and set(states) == {"delivered"}


def assert_each_event_applied_once_in_order(applied: list[dict[str, Any]], events: list[tuple[str, str]]) -> None:
    """Every stored event reached the remote exactly once, and each visitor's in the order they happened."""
    keys = [activity["key"] for activity in applied]
    assert len(keys) == len(set(keys)), "an activity was applied twice"
    assert sorted(keys) == sorted(key for key, _ in events)
    position = {key: index for index, key in enumerate(keys)}
    by_visitor: dict[str, list[str]] = defaultdict(list)
    for key, visitor in events:
        by_visitor[visitor].append(key)
    for visitor, in_order in by_visitor.items():
        assert sorted(in_order, key=position.__getitem__) == in_order, f"visitor {visitor}'s events out of order"


async def test_an_outage_then_recovery_delivers_every_event_once_in_order(tmp_path: Path, remote: Any,
                                                                        database: str) -> None:
    remote.state.down = True
    project = crm_project(tmp_path / "p", remote, database)
    with ServerThread(project, demo=False) as server:
        await chat_many(server, 12)
        await wait_until(lambda: _most_attempts(database, 2), message="two failed attempts during the outage")
        assert remote.state.applied == [] and await outbox_states(database) == {"pending": 12 * 7}
        remote.state.down = False
        await wait_until(lambda: all_delivered(database), message="every item delivered")
    assert_each_event_applied_once_in_order(remote.state.applied, await event_keys(database))
    assert set(remote.state.sent.values()) == {1}  # nothing failed after the remote took a key
    assert {email: lead["person"]["lead.firstName"] for email, lead in remote.state.leads.items()} == {
        f"v{n}@client.example": f"N{n}" for n in range(12)}


async def _most_attempts(database: str, attempts: int) -> bool:
    [row] = await query(database, "SELECT max(attempts) AS most FROM outbox")
    return row.most is not None and row.most >= attempts


async def test_a_killed_server_with_a_thousand_events_pending_loses_none_and_applies_none_twice(
        tmp_path: Path, remote: Any, database: str) -> None:
    remote.state.down = True
    project = crm_project(tmp_path / "p", remote, database, batch_size=25)
    server = ServerProcess(project).start()
    try:
        await chat_many(server, 150)
        assert (await outbox_states(database))["pending"] == 150 * 7 >= 1000
        remote.state.delay, remote.state.down = 0.2, False  # slow enough to be killed mid-delivery
        await wait_until(lambda: len(remote.state.applied) >= 100, message="the first batches applied")
        server.kill()
        states = await outbox_states(database)
        assert states["pending"] > 0, "the kill came too late to leave work behind"
    finally:
        server.kill()
    remote.state.delay = 0.0
    with ServerProcess(project):
        await wait_until(lambda: all_delivered(database), timeout=90, message="delivery after the restart")
    assert_each_event_applied_once_in_order(remote.state.applied, await event_keys(database))
    sent_twice = {key for key, count in remote.state.sent.items() if count > 1}
    assert sent_twice <= remote.state.marked_retried  # a re-sent activity told the connector it may be there already


async def test_two_servers_on_one_postgresql_drain_one_outbox_sending_nothing_twice(
        tmp_path: Path, remote: Any, postgres_url: str) -> None:
    remote.state.down = True
    project = crm_project(tmp_path / "p", remote, postgres_url)
    first = ServerProcess(project).start()
    second = ServerProcess(project).start()
    try:
        await chat_many(first, 40, prefix="first")
        await chat_many(second, 40, prefix="second")
        remote.state.down = False
        await wait_until(lambda: all_delivered(postgres_url), timeout=90, message="both servers' events delivered")
    finally:
        first.stop()
        second.stop()
    assert_each_event_applied_once_in_order(remote.state.applied, await event_keys(postgres_url))
    assert set(remote.state.sent.values()) == {1}, "a key was sent twice"


def outbox_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CHINWAG_")}
    return subprocess.run([CHINWAG, "outbox", *args, "--project", str(project)], capture_output=True, text=True,
                          timeout=60, env=clean)


async def test_a_refused_lead_is_skipped_with_its_reason_shown_and_can_be_retried(tmp_path: Path, remote: Any) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    remote.state.refuse_emails = {"spam@client.example"}
    project = crm_project(tmp_path / "p", remote, database)
    with ServerThread(project, demo=False) as server:
        await chat(server, "Sam", "spam@client.example")
        await chat(server, "Ada", "ada@client.example")
        await wait_until(lambda: _no_pending(database), message="every item settled")
    states = await outbox_states(database)
    # Sam's four events from his email on go with his refused lead; his first three were anonymous.
    assert states == {"delivered": 10, "skipped": 4}
    listing = outbox_cli(project, "--state", "skipped")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count("lead refused: email spam@client.example is on the CRM's blocklist") == 4
    shown = json.loads(outbox_cli(project, "--json").stdout)
    assert shown["consumers"]["loopback-crm"]["skipped"] == 4
    skipped_ids = [str(item["id"]) for item in shown["items"] if item["state"] == "skipped"]
    assert outbox_cli(project, "retry", *skipped_ids).stdout.strip() == "4 item(s) back in the queue"
    remote.state.refuse_emails = set()
    with ServerThread(project, demo=False):
        await wait_until(lambda: all_delivered(database), message="the retried items delivered")
    assert "spam@client.example" in remote.state.leads
    bad = outbox_cli(project, "--state", "lost")
    assert bad.returncode == 2 and "'lost' is not one of" in bad.stderr


async def _no_pending(database: str) -> bool:
    return "pending" not in await outbox_states(database) and bool(await outbox_states(database))


async def test_a_quota_pause_waits_until_the_reset_then_delivers(tmp_path: Path, remote: Any) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    reset = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
    remote.state.quota_exceeded_until = reset.isoformat()
    project = crm_project(tmp_path / "p", remote, database)
    with ServerThread(project, demo=False) as server:
        await chat(server, "Ada", "ada@client.example")
        token = {"Authorization": "Bearer a-test-admin-token-0123456789"}
        await wait_until(lambda: httpx.get(f"{server.url}/-/admin/outbox.json", headers=token).json()
                         ["consumers"].get("loopback-crm", {}).get("paused_until"), message="the pause")
        shown = httpx.get(f"{server.url}/-/admin/outbox.json", headers=token).json()["consumers"]["loopback-crm"]
        assert shown["pause_reason"] == "daily quota exceeded" and shown["pending"] == 7
        requests_while_paused = remote.state.requests
        remote.state.quota_exceeded_until = None
        await wait_until(lambda: all_delivered(database), message="delivery after the reset")
        assert dt.datetime.now(dt.timezone.utc) >= reset
    assert requests_while_paused <= 2  # the paused consumer did not keep knocking
    assert len(remote.state.applied) == 7


async def test_the_admin_outbox_endpoint_checks_its_parameters(tmp_path: Path, remote: Any) -> None:
    project = crm_project(tmp_path / "p", remote)
    with ServerThread(project, demo=False) as server:
        token = {"Authorization": "Bearer a-test-admin-token-0123456789"}
        assert httpx.get(f"{server.url}/-/admin/outbox.json").status_code == 401
        for bad, message in (("state=lost", "state must be one of"), ("limit=²", "limit must be a whole number"),
                             ("limit=0", "limit must be"), ("colour=red", "unknown parameter(s): colour")):
            answer = httpx.get(f"{server.url}/-/admin/outbox.json?{bad}", headers=token)
            assert answer.status_code == 400 and message in answer.json()["error"], bad
        shown = httpx.get(f"{server.url}/-/admin/outbox.json?state=dead&limit=5", headers=token).json()
        assert shown["items"] == []
        assert {key: shown["consumers"]["loopback-crm"][key] for key in ("pending", "delivered", "skipped", "dead")} == {
            "pending": 0, "delivered": 0, "skipped": 0, "dead": 0}


class GoalWebhook:
    """A plugin's own outbox consumer (not a CRM): goals only, posted to the remote over HTTP."""

    name = "goal-webhook"
    batch_size = 10

    def __init__(self, url: str) -> None:
        self.url = url

    def wants(self, event: Any) -> bool:
        return event.name == "goal_reached"

    async def deliver(self, items: Any) -> None:
        body = {"memberships": [{"key": item.key, "email": item.key, "list_id": "goals", "status": item.payload["data"]["goal"]}
                                for item in items]}
        async with httpx.AsyncClient() as client:
            (await client.post(f"{self.url}/lists", json=body)).raise_for_status()


async def test_a_plugins_own_consumer_gets_only_what_it_wants_beside_the_crm(tmp_path: Path, remote: Any) -> None:
    from chinwag import hookimpl
    from chinwag.testing import registered_plugin

    class GoalPlugin:
        @staticmethod
        @hookimpl
        def register_outbox_consumers(register: Any) -> None:
            register(GoalWebhook(remote.url))

    database = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    project = crm_project(tmp_path / "p", remote, database)
    with registered_plugin(GoalPlugin, "goal-plugin"), ServerThread(project, demo=False) as server:
        assert server.app.outbox_consumers.plugin_of("goal-webhook") == "goal-plugin"
        await chat(server, "Ada", "ada@client.example")
        await wait_until(lambda: all_delivered(database), message="both consumers delivered")
    per_consumer = {row.consumer: row.count for row in await query(
        database, "SELECT consumer, count(*) AS count FROM outbox GROUP BY consumer")}
    assert per_consumer == {"loopback-crm": 7, "goal-webhook": 1}
    [goal] = [activity["key"] for activity in remote.state.applied if activity["type"] == "goal_reached"]
    assert remote.state.lists["goals"] == {goal: "contact-given"}  # the same event, by its key, to each consumer
    assert len(remote.state.applied) == 7

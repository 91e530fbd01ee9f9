"""Retention by kind of data, as the reference product keeps it: anonymous visitors and reporting
data 90 days, goal and meeting activity 24 months, known visitors for good; delivered outbox
items 30 days. ``chinwag purge`` applies the policy and says what it removed; serving processes
apply it on a schedule, one at a time.

The PostgreSQL run needs ``CHINWAG_TEST_POSTGRES_URL`` (``make test`` sets it)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from chinwag.testing import ScriptedVisitor, ServerProcess, ServerThread

from crm_support import chat, cli, crm_project, database, query, remote, wait_until  # noqa: F401

NOW = dt.datetime.now(dt.timezone.utc)


def project(path: Path, remote: Any, database: str | None = None, **retention: Any) -> Path:
    """A project on the loopback CRM whose servers purge only when told (``purge_every: 0``)."""
    folder = crm_project(path, remote, database)
    config = yaml.safe_load((folder / "chinwag.yaml").read_text())
    config["retention"] = {"purge_every": 0, **retention}
    (folder / "chinwag.yaml").write_text(yaml.safe_dump(config))
    return folder


def days_ago(days: int) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


async def age_visitor(server: ServerThread, visitor: ScriptedVisitor, days: int) -> None:
    """Make a visitor, their sessions and their events look ``days`` old."""
    from chinwag.tables import events, sessions, visitors

    async def age(app: Any) -> None:
        async with app.store.transaction() as connection:
            await connection.execute(sa.update(visitors).where(visitors.c.id == visitor.visitor).values(
                last_seen_at=days_ago(days)))
            await connection.execute(sa.update(sessions).where(sessions.c.visitor_id == visitor.visitor).values(
                updated_at=days_ago(days)))
            await connection.execute(sa.update(events).where(events.c.visitor_id == visitor.visitor).values(
                created_at=days_ago(days)))

    server.call(age)


async def test_purge_keeps_each_kind_of_data_as_long_as_the_policy_says(
        tmp_path: Path, remote: Any, database: str) -> None:
    folder = project(tmp_path / "p", remote, database)
    with ServerThread(folder, demo=False) as server:
        async with ScriptedVisitor(server) as anonymous:  # a name, never an email, 100 days ago
            await anonymous.run_through("Anon", until_event="engaged")
        known_last_year = await chat(server, "Kim", "kim@known.example")  # a goal, 400 days ago
        known_long_ago = await chat(server, "Old", "old@known.example")  # a goal, 800 days ago
        recent = await chat(server, "New", "new@known.example")
        await wait_until(lambda: _all_settled(server), message="the chats delivered")
        await age_visitor(server, anonymous, 100)
        await age_visitor(server, known_last_year, 400)
        await age_visitor(server, known_long_ago, 800)

        async def age_the_outbox(app: Any) -> None:  # the delivered items of the 800-day-old chat
            from chinwag.outbox import outbox
            async with app.store.transaction() as connection:
                await connection.execute(sa.update(outbox).where(outbox.c.ordering_key == known_long_ago.visitor)
                                         .values(updated_at=days_ago(800)))

        server.call(age_the_outbox)

    result = cli("purge", str(folder))
    assert result.returncode == 0, result.stderr
    removed = json.loads(result.stdout)

    visitors = {row.id for row in await query(database, "SELECT id FROM visitors")}
    assert anonymous.visitor not in visitors  # anonymous, unseen 90 days: gone entirely
    assert {known_last_year.visitor, known_long_ago.visitor, recent.visitor} <= visitors  # known: kept
    sessions = {row.visitor_id for row in await query(database, "SELECT visitor_id FROM sessions")}
    assert sessions == {recent.visitor}  # conversations idle 90 days: gone, with their transcripts
    transcript = await query(database, "SELECT session_id FROM transcript")
    assert {row.session_id for row in transcript} == {recent.session}
    events = [(row.visitor_id, row.name) for row in await query(database, "SELECT visitor_id, name FROM events")]
    assert {name for visitor, name in events if visitor == known_last_year.visitor} == {"goal_reached"}
    assert not [name for visitor, name in events if visitor in (anonymous.visitor, known_long_ago.visitor)]
    assert {name for visitor, name in events if visitor == recent.visitor} >= {"engaged", "lead_captured",
                                                                              "goal_reached", "completed"}
    outbox = {row.ordering_key for row in await query(database, "SELECT ordering_key FROM outbox")}
    assert known_long_ago.visitor not in outbox and recent.visitor in outbox and known_last_year.visitor in outbox
    assert removed["visitors"] == 1 and removed["sessions"] == 3 and removed["outbox"] >= 4 and removed["events"] > 0


def _all_settled(server: ServerThread) -> bool:
    from chinwag.outbox import summary

    counts = server.call(lambda app: summary(app.store)).get("loopback-crm", {})
    return counts.get("pending") == 0 and counts.get("delivered", 0) > 0


async def test_meetings_and_crm_activities_are_kept_as_long_as_activity(tmp_path: Path, remote: Any) -> None:
    from chinwag.crm import CrmActivity
    from chinwag.crm_records import store_activities
    from chinwag.meetings.tables import meetings

    folder = project(tmp_path / "p", remote)
    with ServerThread(folder, demo=False) as server:
        async def seed(app: Any) -> None:
            async with app.store.transaction() as connection:
                for number, ended in enumerate((days_ago(800), days_ago(400))):
                    await connection.execute(sa.insert(meetings).values(
                        id=f"m{number}", idempotency_key=f"k{number}", agent_email="agent@example.com", queue="sales",
                        status="scheduled", start=ended, end=ended, lead_email="x@example.com", created_at=ended,
                        updated_at=ended))
            await store_activities(app.store, "loopback-crm", [
                CrmActivity("a-old", "L1", 2, days_ago(800)), CrmActivity("a-new", "L1", 2, days_ago(400))])

        server.call(seed)
    result = cli("purge", str(folder))
    assert result.returncode == 0, result.stderr
    removed = json.loads(result.stdout)
    assert (removed["meetings"], removed["crm activities"]) == (1, 1), removed
    database = f"sqlite+aiosqlite:///{folder / 'chinwag.db'}"
    assert [row.id for row in await query(database, "SELECT id FROM meetings")] == ["m1"]
    assert [row.activity_id for row in await query(database, "SELECT activity_id FROM crm_activities")] == ["a-new"]


async def test_serving_processes_purge_on_their_schedule(tmp_path: Path, remote: Any) -> None:
    folder = project(tmp_path / "p", remote)
    database = f"sqlite+aiosqlite:///{folder / 'chinwag.db'}"
    with ServerThread(folder, demo=False) as server:
        async with ScriptedVisitor(server) as anonymous:
            await anonymous.run_through("Anon", until_event="engaged")
        await age_visitor(server, anonymous, 2)
    config = yaml.safe_load((folder / "chinwag.yaml").read_text())
    config["retention"] = {"anonymous_days": 1, "purge_every": 0.5}
    (folder / "chinwag.yaml").write_text(yaml.safe_dump(config))
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CHINWAG_")}
    with ServerProcess(folder, env=clean), ServerProcess(folder, env=clean):
        async def gone() -> bool:
            return not await query(database, f"SELECT id FROM visitors WHERE id = '{anonymous.visitor}'")

        await wait_until(gone, timeout=30, message="the scheduled purge")
        [lease] = await query(database, "SELECT job, owner FROM scheduled_leases WHERE job = 'retention-purge'")
        assert lease.owner  # one process holds it until the next purge is due

"""The initial sync through Bulk Extract, end to end: ``chinwag marketo sync`` as a separate
process, the Marketo sandbox over loopback HTTP, and the records in SQLite or PostgreSQL.
Every lead lands once, windows stay within 31 days, a killed sync resumes without exporting a
finished window again, a full queue or a spent export quota is waited out, and afterwards the
same command pulls changes incrementally. The activities of the chosen types follow the leads,
likewise windowed, streamed and resumable."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from chinwag.crm_records import activities_for_lead, metadata
from chinwag.store import Store
from chinwag.testing import write_project
from chinwag_marketo.bulk_sync import BulkCursor, csv_rows
from chinwag_marketo.sandbox import SandboxServer
from chinwag_marketo.sandbox_bulk import parse_instant, zulu
from sqlalchemy.ext.asyncio import create_async_engine

CHINWAG = str(Path(sys.executable).with_name("chinwag"))
FAST = ("--poll-seconds", "0.05", "--queue-wait-seconds", "0.2", "--retry-seconds", "0.1")


def env() -> dict[str, str]:
    """This environment without the tests' CHINWAG_* switches, but the test kit's CHINWAG_MIGRATE
    (each test's fresh database is upgraded by the first command that opens it)."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith("CHINWAG_") or key == "CHINWAG_MIGRATE"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHINWAG, *args], capture_output=True, text=True, timeout=120, env=env())


def project(path: Path, server: SandboxServer, database: str, **settings: Any) -> Path:
    """A project whose Marketo is ``server``, with a fast rate window on both sides."""
    server.state.limits.rate_window = 2.0
    marketo = {**server.plugin_config(), "person_fields": ["firstName", "title"], "company_fields": ["company"],
               "rate_share": 90, "lookup_share": 10, "rate_window": 2.0, "concurrency": 10, **settings}
    return write_project(path, {"name": "bulk", "database": database, "plugins": {"marketo": marketo}}, {})


def since(days: int) -> str:
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).isoformat()


async def stored(database: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The stored marketo records by lead id, and the sync state row."""
    engine = create_async_engine(database)
    try:
        async with engine.connect() as connection:
            records = {row.lead_id: row for row in await connection.execute(
                sa.text("SELECT lead_id, email, person, company FROM crm_records WHERE connector = 'marketo'"))}
            state = (await connection.execute(
                sa.text("SELECT cursor, rows FROM crm_sync_state WHERE connector = 'marketo'"))).first()
    finally:
        await engine.dispose()
    return records, (dict(state._mapping) if state else None)


def _fields(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value


async def until(condition: Callable[[], bool], running: asyncio.Task[Any], timeout: float = 60.0) -> None:
    """Wait until ``condition`` holds while the command is still running; fail if it ends or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert not running.done(), running.result().stderr
        assert time.monotonic() < deadline, "the sandbox never saw what the test waits for"
        await asyncio.sleep(0.05)
    assert not running.done()


def lead_windows(server: SandboxServer) -> list[tuple[str, str]]:
    return [(job.window.start, job.window.end) for job in list(server.state.bulk.jobs.values()) if job.kind == "leads"]


def activity_windows(server: SandboxServer) -> list[tuple[str, str]]:
    return [(job.window.start, job.window.end) for job in list(server.state.bulk.jobs.values())
            if job.kind == "activities"]


def seed_activities(server: SandboxServer, leads: list[dict[str, Any]], count: int, spread_days: int,
                    types: tuple[int, ...] = (1, 2, 11, 13), seed: int = 3) -> list[dict[str, Any]]:
    """``count`` activities of ``types`` by these leads over the last ``spread_days``, with attributes."""
    import random

    chooser, now = random.Random(seed), dt.datetime.now(dt.timezone.utc)
    made = []
    for number in range(count):
        moment = now - dt.timedelta(seconds=chooser.randrange(spread_days * 86_400))
        made.append(server.state.activity_log.record(
            chooser.choice(leads)["id"], chooser.choice(types), zulu(moment), f"https://example.com/page/{number}",
            [{"name": "Client IP Address", "value": "203.0.113.9"}, {"name": "Query Parameters", "value": f"q={number}"}]))
    return made


async def stored_activities(database: str) -> dict[str, Any]:
    """The stored marketo activities by activity id."""
    engine = create_async_engine(database)
    try:
        async with engine.connect() as connection:
            return {row.activity_id: row for row in await connection.execute(sa.text(
                "SELECT activity_id, lead_id, type_id, occurred_at, primary_value, attributes FROM crm_activities "
                "WHERE connector = 'marketo'"))}
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}"
    return str(request.getfixturevalue("postgres_url"))


async def test_the_initial_sync_stores_every_lead_in_windows_of_at_most_31_days(
        tmp_path: Path, server: SandboxServer, database: str) -> None:
    leads = server.state.seed_leads(10_000, spread_days=200)
    server.state.bulk.complete_immediately = True
    folder = project(tmp_path / "p", server, database)
    done = cli("marketo", "sync", "--project", str(folder), "--since", since(201), *FAST)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == {**report, "phase": "bulk", "rows": 10_000, "total_rows": 10_000, "windows": 7, "done": True}
    assert "windows 7/7" in done.stderr and "rows/s" in done.stderr and "ETA" in done.stderr

    records, state = await stored(database)
    assert state is not None and state["rows"] == 10_000
    assert not state["cursor"].startswith("{")  # a paging token for the incremental pull
    assert len(records) == 10_000
    for lead in leads:
        row = records[str(lead["id"])]
        assert row.email == lead["email"]
        assert _fields(row.person) == {"firstName": lead["firstName"], "title": lead["title"]}
        assert _fields(row.company) == {"company": lead["company"]}

    cuts = sorted(lead_windows(server))
    assert len(cuts) == 7
    for (start, end), following in zip(cuts, cuts[1:] + [None]):
        assert parse_instant(end) - parse_instant(start) <= dt.timedelta(days=31)
        if following:  # back to back: no gap, no overlap (the ends are inclusive)
            assert parse_instant(following[0]) - parse_instant(end) == dt.timedelta(seconds=1)


async def cursor_once(process: subprocess.Popen[bytes], database: str,
                      reached: Callable[[BulkCursor], bool]) -> BulkCursor | None:
    """Watch a running sync's saved cursor until ``reached`` holds (or the process ends, or 60 s pass)."""
    cursor = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            state = (await stored(database))[1]
        except Exception:  # the database is being created or is locked for a moment
            state = None
        cursor = BulkCursor.load(state["cursor"]) if state else None
        if cursor is not None and reached(cursor):
            break
        await asyncio.sleep(0.05)
    return cursor


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
async def test_an_interrupted_sync_resumes_at_the_first_unfinished_window(tmp_path: Path, server: SandboxServer,
                                                                          stop: signal.Signals) -> None:
    server.state.seed_leads(10_000, spread_days=200)
    server.state.bulk.step_seconds = 0.15
    database = f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}"
    folder = project(tmp_path / "p", server, database)
    args = [CHINWAG, "marketo", "sync", "--project", str(folder), "--since", since(201), "--window-days", "10", *FAST]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
    cursor = await cursor_once(process, database, lambda cursor: (cursor.window_end - cursor.since).days >= 40)
    process.send_signal(stop)
    _, errors = process.communicate()
    assert cursor is not None, "the sync ended before it was interrupted"
    if stop == signal.SIGINT:  # Ctrl-C: a clean exit that says how to go on
        assert process.returncode == 130 and b"run the command again to continue" in errors
        assert b"Traceback" not in errors
    else:
        assert process.returncode == -signal.SIGKILL
    finished = (await stored(database))[1]
    stopped_at = BulkCursor.load(finished["cursor"]).window_end  # type: ignore[index, union-attr]
    jobs_before = len(lead_windows(server))

    # The incremental pull refuses to start before the initial sync has finished, and moves nothing.
    early = cli("crm", "sync", "--project", str(folder), "marketo")
    assert early.returncode != 0 and "initial sync has not finished" in early.stderr
    assert (await stored(database))[1]["cursor"] == finished["cursor"]  # type: ignore[index]

    # The same --since continues; other window days (the default 31) leave no gap.
    done = cli("marketo", "sync", "--project", str(folder), "--since", cursor.since.isoformat(), *FAST)
    assert done.returncode == 0, done.stderr
    records, state = await stored(database)
    assert len(records) == 10_000 and state is not None and state["rows"] == 10_000
    assert json.loads(done.stdout)["total_rows"] == 10_000
    again = sorted(lead_windows(server)[jobs_before:])
    # Nothing finished is exported again, nothing twice, and the rest back to back up to the first run's start.
    assert again and parse_instant(again[0][0]) >= stopped_at
    for (start, end), following in zip(again, again[1:]):
        assert parse_instant(following[0]) - parse_instant(end) == dt.timedelta(seconds=1)
    assert parse_instant(again[-1][1]) == cursor.until - dt.timedelta(seconds=1)


async def test_a_full_queue_a_spent_export_quota_or_an_outage_is_waited_out(tmp_path: Path, server: SandboxServer,
                                                                   client: httpx.Client) -> None:
    server.state.seed_leads(500, spread_days=40)
    client.post("/_sandbox/limits", json={"step_seconds": 1000})
    window = {"updatedAt": {"startAt": since(400), "endAt": since(390)}}
    others = []  # another integration's jobs fill Marketo's queue of 10
    for _ in range(10):
        job = client.post("/bulk/v1/leads/export/create.json", json={"fields": ["id"], "filter": window}).json()
        others.append(job["result"][0]["exportId"])
        assert client.post(f"/bulk/v1/leads/export/{others[-1]}/enqueue.json").json()["success"]
    folder = project(tmp_path / "p", server, f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}")
    running = asyncio.create_task(asyncio.to_thread(cli, "marketo", "sync", "--project", str(folder),
                                                    "--since", since(45), *FAST))
    await until(lambda: "Too many jobs in queue" in server.state.bulk.refusals, running)
    for export_id in others:  # the queue empties, and the day's export quota turns out spent
        client.post(f"/bulk/v1/leads/export/{export_id}/cancel.json")
    client.post("/_sandbox/limits", json={"daily_export_quota": 0, "step_seconds": 0.05})
    client.post("/_sandbox/faults", json={"status": 503, "times": 2, "path": "file.json"})  # and an outage
    await until(lambda: "Export daily quota exceeded" in server.state.bulk.refusals, running)
    client.post("/_sandbox/limits", json={"daily_export_quota": 500 * 1024 * 1024})  # a new day
    done = await asyncio.wait_for(running, 60)
    assert done.returncode == 0, done.stderr
    assert "Too many jobs in queue" in done.stderr and "Export daily quota exceeded" in done.stderr
    assert not [fault for fault in server.state.faults if fault.path == "file.json"]  # the outage was met
    records, state = await stored(f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}")
    assert len(records) == 500 and state is not None and state["rows"] == 500


async def test_after_the_bulk_phase_the_command_pulls_changes(tmp_path: Path, server: SandboxServer,
                                                              client: httpx.Client) -> None:
    leads = server.state.seed_leads(300, spread_days=20)
    server.state.bulk.complete_immediately = True
    database = f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}"
    folder = project(tmp_path / "p", server, database)
    first = cli("marketo", "sync", "--project", str(folder), *FAST)  # from two years back: 24 windows
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["windows"] == 24 and json.loads(first.stdout)["total_rows"] == 300

    changed = client.post("/rest/v1/leads.json", json={"action": "createOrUpdate", "lookupField": "email", "input": [
        {"email": leads[7]["email"], "firstName": "Renamed", "title": "Chief Renamer"}]}).json()
    assert changed["result"][0]["status"] == "updated"
    second = cli("marketo", "sync", "--project", str(folder), *FAST)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["phase"] == "changes" and report["rows"] == 1 and report["total_rows"] == 301
    records, _ = await stored(database)
    assert _fields(records[str(leads[7]["id"])].person) == {"firstName": "Renamed", "title": "Chief Renamer"}
    assert len(records) == 300


async def test_csv_records_are_cut_only_where_they_end() -> None:
    text = 'id,name\n1,"two\nlines"\n2,"say ""hi"""\n3,null\n'

    async def pieces(size: int) -> Any:
        for start in range(0, len(text), size):
            yield text[start:start + size]

    for size in (1, 3, 7, 100):
        rows = [row async for chunk in csv_rows(pieces(size)) for row in chunk]
        assert rows == [["id", "name"], ["1", "two\nlines"], ["2", 'say "hi"'], ["3", "null"]]


async def test_a_serving_process_pulls_changes_on_its_schedule(tmp_path: Path, server: SandboxServer,
                                                               client: httpx.Client) -> None:
    from chinwag.testing import ServerProcess

    leads = server.state.seed_leads(50, spread_days=20)
    server.state.bulk.complete_immediately = True
    database = f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}"
    folder = project(tmp_path / "p", server, database)
    config = yaml.safe_load((folder / "chinwag.yaml").read_text())
    config["plugins"]["marketo"]["sync_every"] = 0.5
    (folder / "chinwag.yaml").write_text(yaml.safe_dump(config))
    assert cli("marketo", "sync", "--project", str(folder), *FAST).returncode == 0
    with ServerProcess(folder, env=env()), ServerProcess(folder, env=env()):
        client.post("/rest/v1/leads.json", json={"action": "createOrUpdate", "lookupField": "email", "input": [
            {"email": leads[3]["email"], "firstName": "Rescheduled"}]}).raise_for_status()
        for _ in range(100):
            records, _ = await stored(database)
            if _fields(records[str(leads[3]["id"])].person).get("firstName") == "Rescheduled":
                break
            await asyncio.sleep(0.1)
    assert _fields(records[str(leads[3]["id"])].person)["firstName"] == "Rescheduled"
    pulls = [call for call in server.state.limits.calls if call.path.endswith("/activities/leadchanges.json")]
    seconds = pulls[-1].at - pulls[0].at if len(pulls) > 1 else 0
    assert len(pulls) <= seconds / 0.45 + 2  # two processes, but one pull per interval between them


async def test_the_initial_sync_stores_the_activities_of_the_chosen_types_after_the_leads(
        tmp_path: Path, server: SandboxServer, database: str) -> None:
    leads = server.state.seed_leads(300, spread_days=60)
    activities = seed_activities(server, leads, 5_000, spread_days=100)
    server.state.bulk.complete_immediately = True
    folder = project(tmp_path / "p", server, database, sync_activity_types=[2, 11])
    done = cli("marketo", "sync", "--project", str(folder), "--since", since(101), *FAST)
    assert done.returncode == 0, done.stderr
    chosen = {str(a["marketoGUID"]): a for a in activities if a["activityTypeId"] in (2, 11)}
    report = json.loads(done.stdout)
    assert report == {**report, "total_rows": 300, "activities": len(chosen), "total_activities": len(chosen),
                      "windows": 8, "done": True}
    assert "activities: " in done.stderr and "windows 8/8" in done.stderr

    records, state = await stored(database)
    assert len(records) == 300 and state is not None and not state["cursor"].startswith("{")
    rows = await stored_activities(database)
    assert set(rows) == set(chosen)  # every one of the chosen types, none of the others
    for guid, activity in chosen.items():
        row = rows[guid]
        assert (row.lead_id, row.type_id, row.primary_value) == (
            str(activity["leadId"]), activity["activityTypeId"], activity["primaryAttributeValue"])
        assert _fields(row.attributes) == {a["name"]: a["value"] for a in activity["attributes"]}

    jobs = list(server.state.bulk.jobs.values())
    assert [job.kind for job in jobs] == ["leads"] * 4 + ["activities"] * 4  # the leads first, then activities
    assert all(job.activity_type_ids == [2, 11] and job.window.field == "createdAt" for job in jobs[4:])
    cuts = sorted(activity_windows(server))
    for (start, end), following in zip(cuts, cuts[1:] + [None]):
        assert parse_instant(end) - parse_instant(start) <= dt.timedelta(days=31)
        if following:
            assert parse_instant(following[0]) - parse_instant(end) == dt.timedelta(seconds=1)

    store = Store(database, metadata)  # what targeting on behaviour reads
    try:
        lead = str(chosen[next(iter(chosen))]["leadId"])
        mine = await activities_for_lead(store, "marketo", lead)
        assert {a.activity_id for a in mine} == {g for g, a in chosen.items() if str(a["leadId"]) == lead}
        assert [a.occurred_at for a in mine] == sorted(a.occurred_at for a in mine)
        assert all(a.type_id == 11 for a in await activities_for_lead(store, "marketo", lead, [11]))
    finally:
        await store.engine.dispose()


async def test_a_sync_killed_in_the_activities_phase_stores_each_activity_once(tmp_path: Path,
                                                                               server: SandboxServer) -> None:
    leads = server.state.seed_leads(200, spread_days=20)
    activities = seed_activities(server, leads, 6_000, spread_days=100, types=(1, 2))
    server.state.bulk.step_seconds = 0.15
    database = f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}"
    folder = project(tmp_path / "p", server, database, sync_activity_types=[1])
    args = [CHINWAG, "marketo", "sync", "--project", str(folder), "--since", since(101), "--window-days", "10", *FAST]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env())
    cursor = await cursor_once(process, database, lambda cursor: cursor.activities_windows_done >= 3)
    process.kill()
    process.communicate()
    assert cursor is not None and cursor.activities_windows_done >= 3, "the sync ended before it was killed"
    killed = BulkCursor.load((await stored(database))[1]["cursor"])  # type: ignore[index]
    assert killed is not None and killed.window_end == killed.until  # the leads were done
    stopped_at, jobs_before = killed.end_of("activities"), len(activity_windows(server))

    done = cli("marketo", "sync", "--project", str(folder), "--since", killed.since.isoformat(), *FAST)
    assert done.returncode == 0, done.stderr
    chosen = {str(a["marketoGUID"]) for a in activities if a["activityTypeId"] == 1}
    assert set(await stored_activities(database)) == chosen
    assert json.loads(done.stdout)["total_activities"] == len(chosen)  # each counted once
    assert json.loads(done.stdout)["total_rows"] == 200
    assert len(lead_windows(server)) == killed.windows_done  # no lead window exported again
    again = sorted(activity_windows(server)[jobs_before:])
    assert again and parse_instant(again[0][0]) >= stopped_at  # no finished window exported again
    assert parse_instant(again[-1][1]) == killed.until - dt.timedelta(seconds=1)
    _, state = await stored(database)
    assert state is not None and not state["cursor"].startswith("{")  # handed over after both phases


@pytest.mark.parametrize("value", ["[2, x]", "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]", "[true]", "6"])
def test_a_bad_sync_activity_types_is_named_with_its_line(tmp_path: Path, server: SandboxServer, value: str) -> None:
    folder = project(tmp_path / "p", server, "sqlite+aiosqlite:///x.db", sync_activity_types=[])
    text = (folder / "chinwag.yaml").read_text()
    assert "sync_activity_types: []" in text
    (folder / "chinwag.yaml").write_text(text.replace("sync_activity_types: []", f"sync_activity_types: {value}"))
    line = next(number for number, content in enumerate((folder / "chinwag.yaml").read_text().splitlines(), 1)
                if "sync_activity_types" in content)
    result = cli("validate", str(folder))
    assert result.returncode == 1
    assert f"chinwag.yaml:{line}" in result.stderr and "plugins.marketo.sync_activity_types:" in result.stderr


async def test_after_the_bulk_phase_new_activities_of_the_chosen_types_are_pulled_once(
        tmp_path: Path, server: SandboxServer, database: str) -> None:
    leads = server.state.seed_leads(100, spread_days=20)
    before = seed_activities(server, leads, 400, spread_days=20, types=(1, 2))
    server.state.bulk.complete_immediately = True
    folder = project(tmp_path / "p", server, database, sync_activity_types=[2])
    first = cli("marketo", "sync", "--project", str(folder), "--since", since(21), *FAST)
    assert first.returncode == 0, first.stderr
    assert set(await stored_activities(database)) == {str(a["marketoGUID"]) for a in before if a["activityTypeId"] == 2}

    time.sleep(0.01)  # the new ones are dated after the handover
    later = [server.state.activity_log.record(
        leads[number % 100]["id"], 2 if number % 3 else 1, zulu(dt.datetime.now(dt.timezone.utc)),
        f"https://example.com/form/{number}", [{"name": "Form Name", "value": f"Form {number}"}])
        for number in range(750)]  # more than one page of 300
    second = cli("marketo", "sync", "--project", str(folder), *FAST)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    new = {str(a["marketoGUID"]): a for a in later if a["activityTypeId"] == 2}
    assert report["phase"] == "changes" and report["activities"] == len(new) and report["pages"] >= 2
    rows = await stored_activities(database)
    assert set(new) <= set(rows) and not {str(a["marketoGUID"]) for a in later if a["activityTypeId"] == 1} & set(rows)
    for guid, activity in new.items():
        assert (rows[guid].lead_id, rows[guid].primary_value) == (str(activity["leadId"]),
                                                                 activity["primaryAttributeValue"])
        assert _fields(rows[guid].attributes) == {"Form Name": activity["attributes"][0]["value"]}

    third = cli("marketo", "sync", "--project", str(folder), *FAST)  # nothing new since: nothing stored twice
    assert third.returncode == 0, third.stderr
    assert json.loads(third.stdout)["activities"] == 0
    assert len(await stored_activities(database)) == len(rows)


def test_an_unreadable_activity_from_marketo_is_left_out_not_stored() -> None:
    from chinwag_marketo.connector import activity_from_api

    good = {"id": 7, "marketoGUID": "7", "leadId": 3, "activityTypeId": 2, "activityDate": "2026-11-02T10:00:00Z",
            "primaryAttributeValue": "Form", "attributes": [{"name": "Form Name", "value": "Demo"}, "junk"]}
    activity = activity_from_api(good)
    assert activity is not None and (activity.activity_id, activity.lead_id, activity.type_id) == ("7", "3", 2)
    assert activity.attributes == {"Form Name": "Demo"} and activity.occurred_at.tzinfo is not None
    for broken in ({**good, "leadId": None}, {**good, "leadId": True}, {**good, "activityTypeId": "two"},
                   {**good, "activityDate": "yesterday"}, {**good, "activityDate": "2026-11-02T10:00:00"},
                   {key: value for key, value in good.items() if key != "activityDate"}):
        assert activity_from_api(broken) is None, broken

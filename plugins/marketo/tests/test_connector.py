"""The Marketo connector end to end: real chats, chinwag's outbox, and the Marketo sandbox over
loopback HTTP. Leads, custom activities and program membership land once each; known people
are recognised; outages, ambiguous answers, the daily quota and refusals are handled."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from chinwag.crm_records import sync_state
from chinwag.outbox import summary
from chinwag.testing import ScriptedVisitor, ServerProcess, ServerThread, write_project
from chinwag_marketo.client import next_quota_reset
from chinwag_marketo.sandbox import SandboxServer

CHINWAG = str(Path(sys.executable).with_name("chinwag"))
TYPES = ("chinwagEngagedWithDialogue", "chinwagReachedDialogueGoal", "chinwagScheduledMeeting")
FAST_OUTBOX = {"base_delay": 0.05, "max_delay": 0.5, "poll_interval": 0.1, "lease_seconds": 3, "max_attempts": 1000}

DIALOGUE = {"id": "contact", "name": "Contact", "cards": [
    {"id": "name", "type": "capture", "text": "Your first name?", "field": "lead.firstName"},
    {"id": "email", "type": "capture", "input": "email", "text": "Your work email?", "field": "lead.email"},
    {"id": "hello", "type": "message", "text": 'Welcome, {{person.firstName:"friend"}} from {{company.company:"afar"}}.'},
    {"id": "goal", "type": "goal", "goal": "contact-given"},
    {"id": "bye", "type": "end", "text": "Thanks!"}]}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    # Without the tests' CHINWAG_* switches, but with the test kit's CHINWAG_MIGRATE (fresh databases are upgraded).
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CHINWAG_") or key == "CHINWAG_MIGRATE"}
    return subprocess.run([CHINWAG, *args], capture_output=True, text=True, timeout=120, env=clean)


def project(path: Path, server: SandboxServer, database: str | None = None, **settings: Any) -> Path:
    """A project whose Marketo is ``server``: program 1001 on the goal, fast delivery."""
    marketo = {**server.plugin_config(), "person_fields": ["firstName", "title"], "company_fields": ["company"],
               "programs": [{"program_id": 1001, "status": "Engaged", "goal": "contact-given"}], "batch_wait": 0,
               **settings}
    config: dict[str, Any] = {"name": "marketo", "response_delay": 0, "plugins": {"marketo": marketo},
                              "outbox": FAST_OUTBOX}
    if database:
        config["database"] = database
    return write_project(path, config, {"contact": DIALOGUE})


async def chat(server: Any, name: str, email: str) -> ScriptedVisitor:
    """One visitor through the contact dialogue."""
    async with ScriptedVisitor(server) as visitor:
        return await visitor.run_through(name, email)


async def settled(app: Any) -> dict[str, int]:
    entry = (await summary(app.store)).get("marketo", {})
    return {state: entry.get(state, 0) for state in ("pending", "delivered", "skipped", "dead")}


async def wait_settled(server: ServerThread, timeout: float = 30) -> dict[str, int]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        counts = server.call(settled)
        if counts["pending"] == 0 and sum(counts.values()):
            return counts
        assert time.monotonic() < deadline, f"the outbox did not settle: {counts}"
        await asyncio.sleep(0.1)


def custom_activities(server: SandboxServer) -> list[dict[str, Any]]:
    """The chinwag activities Marketo recorded."""
    type_ids = {kind["id"] for kind in server.state.activity_log.types.values() if kind["apiName"] in TYPES}
    return [activity for activity in server.state.activity_log.activities if activity["activityTypeId"] in type_ids]


def test_settings_problems_are_named_with_their_lines(tmp_path: Path, server: SandboxServer) -> None:
    folder = project(tmp_path / "p", server, rate_share=500, person_fields="firstName",
                     programs=[{"program_id": "x", "status": "Engaged"}], colour="red")
    result = cli("validate", str(folder))
    assert result.returncode == 1
    for expected in ("plugins.marketo.rate_share: must be a whole number from 1 to 100",
                     "plugins.marketo.person_fields: must be a list of Marketo field API names",
                     "plugins.marketo.programs[0]: needs program_id", "plugins.marketo.colour: unknown setting"):
        assert expected in result.stderr
    assert "chinwag.yaml:" in result.stderr


def test_setup_creates_and_approves_the_activity_types_once(tmp_path: Path, server: SandboxServer) -> None:
    folder = project(tmp_path / "p", server)
    first = cli("marketo", "setup", "--project", str(folder))
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(": created") == 3 and first.stdout.count(": approved\n") == 3
    kinds = {kind["apiName"]: kind for kind in server.state.activity_log.types.values()}
    assert all(kinds[name]["status"] == "approved" for name in TYPES)
    assert {attribute["apiName"] for attribute in kinds[TYPES[2]]["attributes"]} >= {"agentEmail", "scheduledFor"}
    again = cli("marketo", "setup", "--project", str(folder))
    assert again.stdout.count("approved already") == 3 and "created" not in again.stdout


async def test_a_chat_lands_in_marketo_once_lead_activity_and_program(tmp_path: Path, server: SandboxServer) -> None:
    folder = project(tmp_path / "p", server)
    assert cli("marketo", "setup", "--project", str(folder)).returncode == 0
    with ServerThread(folder, demo=False) as chinwag:
        await chat(chinwag, "Grace", "grace@navy.example")
        counts = await wait_settled(chinwag)
    # engaged came before the email: it waited (held) for it, then went out against the lead
    assert counts == {"pending": 0, "delivered": 3, "skipped": 0, "dead": 0}
    [lead] = [lead for lead in server.state.leads.values() if lead.get("email") == "grace@navy.example"]
    assert lead["firstName"] == "Grace"
    engaged, goal = sorted(custom_activities(server), key=lambda activity: activity["id"])
    assert engaged["leadId"] == goal["leadId"] == lead["id"] and goal["primaryAttributeValue"].startswith("e_")
    assert {attribute["apiName"]: attribute["value"] for attribute in engaged["attributes"]}["status"] == "Initiated"
    assert {attribute["apiName"]: attribute["value"] for attribute in goal["attributes"]}["goalName"] == "contact-given"
    assert server.state.programs[1001].members[lead["id"]]["statusName"] == "Engaged"


async def test_a_known_person_is_greeted_by_name_in_the_same_dialogue(tmp_path: Path, server: SandboxServer) -> None:
    server.state.add_lead({"email": "ada@example.com", "firstName": "Ada", "company": "Analytical Engines"})
    with ServerThread(project(tmp_path / "p", server), demo=False) as chinwag:
        visitor = await chat(chinwag, "A.", "ada@example.com")
    assert "Welcome, Ada from Analytical Engines." in visitor.texts()


async def test_an_outage_then_recovery_delivers_everything_once(tmp_path: Path, server: SandboxServer) -> None:
    folder = project(tmp_path / "p", server)
    assert cli("marketo", "setup", "--project", str(folder)).returncode == 0
    server.state.fail_next(503, times=6)
    with ServerThread(folder, demo=False) as chinwag:
        for number in range(3):
            await chat(chinwag, f"N{number}", f"n{number}@client.example")
        counts = await wait_settled(chinwag)
    assert counts["delivered"] == 9 and counts["dead"] == 0
    recorded = custom_activities(server)  # an engagement and a goal for each visitor, once
    assert len(recorded) == 6 == len({activity["primaryAttributeValue"] for activity in recorded})


async def test_an_answer_lost_after_marketo_applied_the_batch_is_not_recorded_twice(
        tmp_path: Path, server: SandboxServer) -> None:
    folder = project(tmp_path / "p", server)
    assert cli("marketo", "setup", "--project", str(folder)).returncode == 0
    server.state.fail_next(503, path="/activities/external.json", after_processing=True)
    with ServerThread(folder, demo=False) as chinwag:
        await chat(chinwag, "Ada", "ada@client.example")
        counts = await wait_settled(chinwag)
    assert counts["delivered"] == 3
    sent = [call for call in server.state.limits.calls if call.path.endswith("/activities/external.json")]
    assert len(sent) == 1  # the retry found the activities by their event ids and did not send them again
    assert len(custom_activities(server)) == 2


async def test_a_timeout_after_marketo_accepted_the_batch_does_not_record_it_twice(
        tmp_path: Path, server: SandboxServer) -> None:
    # Marketo stores the activities, then holds its answer past the client's timeout: the request
    # went out and no answer came back. The retry looks the activity up instead of sending it again.
    folder = project(tmp_path / "p", server, timeout=0.5)
    assert cli("marketo", "setup", "--project", str(folder)).returncode == 0
    server.state.fail_next(503, path="/activities/external.json", after_processing=True, delay=2.0)
    with ServerThread(folder, demo=False) as chinwag:
        await chat(chinwag, "Ada", "ada@client.example")
        counts = await wait_settled(chinwag)
    assert counts == {"pending": 0, "delivered": 3, "skipped": 0, "dead": 0}
    sent = [call for call in server.state.limits.calls if call.path.endswith("/activities/external.json")]
    looked_up = [call for call in server.state.limits.calls if call.path.endswith("/activities.json")]
    assert len(sent) == 1 and looked_up  # sent once; the retry found them by their event ids
    assert len(custom_activities(server)) == 2  # engaged and goal reached, once each


async def test_the_daily_quota_pauses_delivery_until_the_reset(tmp_path: Path, server: SandboxServer) -> None:
    folder = project(tmp_path / "p", server)
    assert cli("marketo", "setup", "--project", str(folder)).returncode == 0
    server.state.fail_with_code("607", times=1000)
    with ServerThread(folder, demo=False) as chinwag:
        await chat(chinwag, "Ada", "ada@client.example")
        for _ in range(100):
            entry = chinwag.call(lambda app: summary(app.store)).get("marketo", {})
            if entry.get("paused_until"):
                break
            await asyncio.sleep(0.1)
        assert "Marketo daily quota reached" in entry["pause_reason"]
        assert entry["paused_until"] == next_quota_reset(dt.datetime.now(dt.timezone.utc)).isoformat()
        assert entry["pending"] == 3
        server.state.faults.clear()
    resumed = cli("outbox", "resume", "--project", str(folder), "marketo")
    assert resumed.stdout.strip() == "marketo: resumed"
    with ServerThread(folder, demo=False) as chinwag:
        assert (await wait_settled(chinwag))["delivered"] == 3


async def test_a_refused_lead_is_skipped_with_marketos_reason(tmp_path: Path, server: SandboxServer) -> None:
    folder = project(tmp_path / "p", server)
    assert cli("marketo", "setup", "--project", str(folder)).returncode == 0
    server.state.refuse_email("bot@spam.example", "1003", "Invalid email")
    with ServerThread(folder, demo=False) as chinwag:
        await chat(chinwag, "Bot", "bot@spam.example")
        counts = await wait_settled(chinwag)
    assert counts == {"pending": 0, "delivered": 0, "skipped": 3, "dead": 0}
    listing = cli("outbox", "--project", str(folder), "--state", "skipped").stdout
    assert listing.count("lead refused: Marketo skipped the record: 1003 Invalid email") == 3  # the engagement too, released with the refused lead
    assert custom_activities(server) == []


# 2,000 visitors leave their e-mail, 100 at a time, alternately on two servers (argv: two WebSocket
# URLs, then the two servers' origins).
BURST = """
import asyncio, sys
from chinwag.testing import ScriptedVisitor

async def main(urls, origins):
    limit = asyncio.Semaphore(100)

    async def capture(number):
        async with limit, ScriptedVisitor(urls[number % 2], origin=origins[number % 2]) as visitor:
            await visitor.run_through(f"b{number}@burst.example")

    await asyncio.gather(*(capture(number) for number in range(2000)))

asyncio.run(main(sys.argv[1:3], sys.argv[3:5]))
"""


async def test_a_burst_of_2000_captures_across_two_processes_stays_under_the_rate_share(
        tmp_path: Path, server: SandboxServer, postgres_url: str) -> None:
    server.state.limits.rate_limit, server.state.limits.rate_window = 6, 2.0
    folder = project(tmp_path / "p", server, postgres_url, rate_share=4, lookup_share=2, rate_window=2.0,
                     batch_size=300, batch_wait=0.5)
    signup = {"id": "signup", "name": "Sign up", "cards": [
        {"id": "email", "type": "capture", "input": "email", "text": "Your work email?", "field": "lead.email"},
        {"id": "goal", "type": "goal", "goal": "contact-given"}, {"id": "bye", "type": "end", "text": "Thanks!"}]}
    (folder / "dialogues" / "contact.yaml").write_text(json.dumps(signup))
    config = yaml.safe_load((folder / "chinwag.yaml").read_text())
    config["outbox"]["lease_seconds"] = 60  # a delivery may take up to half of it, waiting for its places
    (folder / "chinwag.yaml").write_text(yaml.safe_dump(config))
    assert cli("marketo", "setup", "--project", str(folder)).returncode == 0
    calls_before = len(server.state.limits.calls)
    first, second = ServerProcess(folder).start(), ServerProcess(folder).start()
    try:
        # The visitors chat from a process of their own: in this one they would hold the interpreter
        # lock the sandbox's thread needs, and its clock would see calls arrive late and bunched.
        burst = await asyncio.create_subprocess_exec(sys.executable, "-c", BURST, first.ws_url, second.ws_url,
                                                     first.url, second.url, stderr=asyncio.subprocess.PIPE)
        _, errors = await asyncio.wait_for(burst.communicate(), 600)
        assert burst.returncode == 0, errors.decode()
        for _ in range(1200):
            states = await _states(postgres_url)
            if states and "pending" not in states:
                break
            await asyncio.sleep(0.1)
    finally:
        first.stop()
        second.stop()
    assert states == {"delivered": 6000}  # engaged, lead captured and goal reached, for each of 2,000
    calls = server.state.limits.calls[calls_before:]
    assert len(calls) >= 15  # enough calls for the limit to matter: several windows' worth
    assert all(call.counted for call in calls)  # none refused: no 606 (rate) or 615 (concurrency)
    assert server.state.limits.peak_rate(2.0) <= 6
    assert len(server.state.programs[1001].members) == 2000


async def _states(database: str) -> dict[str, int]:
    from sqlalchemy.ext.asyncio import create_async_engine
    import sqlalchemy as sa

    engine = create_async_engine(database)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(sa.text("SELECT state, count(*) FROM outbox GROUP BY state"))
            return {state: count for state, count in rows}
    finally:
        await engine.dispose()


async def test_sandbox_mode_serves_marketo_inside_chinwag_for_the_demo(tmp_path: Path) -> None:
    from chinwag.testing import free_port

    port = free_port()
    folder = write_project(tmp_path / "p", {
        "name": "demo", "response_delay": 0, "public_url": f"http://127.0.0.1:{port}", "outbox": FAST_OUTBOX,
        "plugins": {"marketo": {"sandbox": True, "person_fields": ["firstName"], "company_fields": ["company"]}}},
        {"contact": DIALOGUE})
    with ServerThread(folder, port=port, demo=False) as chinwag:
        from chinwag_marketo.plugin import MarketoState

        sandbox = chinwag.app.plugin_state(MarketoState).sandbox
        assert len(sandbox.leads) > 1000  # seeded for the demo
        assert {kind["status"] for kind in sandbox.activity_log.types.values()} == {"approved"}
        known = await chat(chinwag, "A.", "ada@example.com")  # the demo's known person
        await chat(chinwag, "Newcomer", "new@client.example")
        await wait_settled(chinwag)
    assert "Welcome, Ada from Analytical Engines." in known.texts()
    assert any(lead.get("email") == "new@client.example" for lead in sandbox.leads.values())


async def test_an_anonymous_visitor_is_recognised_by_the_munchkin_cookie(tmp_path: Path, server: SandboxServer) -> None:
    lead = server.state.add_lead({"email": "grace@navy.example", "firstName": "Grace", "company": "Navy"})
    cookie = "id:123-ABC-456&token:_mch-example.com-1700000000000-12345"
    server.state.cookies[cookie] = lead["id"]
    greeting = {"id": "hi", "name": "Hi", "cards": [
        {"id": "hello", "type": "message", "text": 'Hi {{person.firstName:"there"}} from {{company.company:"afar"}}!'},
        {"id": "q", "type": "capture", "text": "Anything else?", "field": "lead.firstName"}]}
    folder = project(tmp_path / "p", server)
    (folder / "dialogues" / "contact.yaml").unlink()
    (folder / "dialogues" / "hi.yaml").write_text(json.dumps(greeting))  # JSON is YAML
    with ServerThread(folder, demo=False) as chinwag:
        async with ScriptedVisitor(chinwag) as known:
            await known.connect(tracking={"_mkto_trk": cookie})
            await known.question()
        async with ScriptedVisitor(chinwag) as stranger:
            await stranger.connect(tracking={"_mkto_trk": "id:123-ABC-456&token:_mch-unknown"})
            await stranger.question()
        async with ScriptedVisitor(chinwag) as bad:
            error = await bad.connect(tracking={"_mkto_trk": "x" * 600})
    assert known.texts()[0] == "Hi Grace from Navy!"
    assert stranger.texts()[0] == "Hi there from afar!"
    assert error["type"] == "error" and error["code"] == "bad_frame" and "hello.tracking" in error["message"]



async def test_events_wait_for_a_fuller_batch_so_a_burst_costs_few_calls(tmp_path: Path, server: SandboxServer) -> None:
    folder = project(tmp_path / "p", server, batch_wait=3)
    assert cli("marketo", "setup", "--project", str(folder)).returncode == 0
    before = len(server.state.limits.calls)
    with ServerThread(folder, demo=False) as chinwag:
        await asyncio.gather(*(chat(chinwag, f"N{n}", f"n{n}@burst.example") for n in range(8)))
        counts = await wait_settled(chinwag, timeout=30)
    assert counts["delivered"] == 24  # an engagement, a lead and a goal each
    calls = [(call.method, call.path.rsplit("/v1/", 1)[-1]) for call in server.state.limits.calls[before:]]
    assert calls.count(("POST", "leads.json")) == 1 and calls.count(("POST", "activities/external.json")) == 1
    # Each new email is looked up as it is typed, unless the lookups' share is busy (they never queue).
    assert 1 <= calls.count(("GET", "leads.json")) <= 8


async def test_status_shows_the_sync_the_queue_and_the_calls_made_today(tmp_path: Path, server: SandboxServer,
                                                                      caplog: Any) -> None:
    folder = project(tmp_path / "p", server, sync_every=0.5)
    assert cli("marketo", "setup", "--project", str(folder)).returncode == 0  # 6 calls or so
    with ServerThread(folder, demo=False) as chinwag:
        await chat(chinwag, "Ada", "ada@client.example")
        await wait_settled(chinwag)
        for _ in range(100):  # the first scheduled pull, half a second after the start
            if chinwag.call(lambda app: sync_state(app.store, "marketo")):
                break
            await asyncio.sleep(0.1)
    made = sum(1 for call in server.state.limits.calls if call.counted)
    status = json.loads(cli("marketo", "status", "--project", str(folder)).stdout)
    assert status["calls_today"] == made
    assert status["outbox"]["delivered"] == 3 and status["outbox"]["skipped"] == 0
    # The serving process's scheduled pull has nothing to continue before the initial sync, and says so.
    assert status["sync"]["cursor"] is None
    assert "the initial sync has not run yet: run chinwag marketo sync" in status["sync"]["last_error"]
    # Expected before the initial sync: said quietly, not as a failure of the scheduled pull.
    assert not [record for record in caplog.records if record.levelname == "WARNING" and "crm-sync" in record.getMessage()]


async def test_the_quickstart_greets_the_known_visitor_by_name(tmp_path: Path) -> None:
    import httpx
    from chinwag.testing import QUICKSTART, free_port
    from chinwag_marketo.sandbox import DEMO_COOKIE

    port = free_port()
    folder = write_project(tmp_path / "demo", {"public_url": f"http://127.0.0.1:{port}"}, copy_from=QUICKSTART)
    with ServerThread(folder, port=port) as chinwag:
        answer = httpx.get(f"{chinwag.url}/-/sandbox/marketo/known-visitor", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        assert answer.cookies["_mkto_trk"] == DEMO_COOKIE
        async with ScriptedVisitor(chinwag) as known:
            await known.connect(tracking={"_mkto_trk": DEMO_COOKIE})
            await known.question()
        async with ScriptedVisitor(chinwag) as anonymous:
            await anonymous.connect()
            await anonymous.question()
    assert known.texts()[0] == "Welcome back, Ada from Analytical Engines! I'm the chinwag demo bot."
    assert anonymous.texts()[0] == "Hi there! I'm the chinwag demo bot."


async def test_a_server_killed_with_a_full_outbox_loses_nothing_and_records_nothing_twice(
        tmp_path: Path, server: SandboxServer) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    folder = project(tmp_path / "p", server, database, batch_size=30)
    assert cli("marketo", "setup", "--project", str(folder)).returncode == 0
    server.state.fail_next(503, times=100000)  # Marketo down while the visitors chat
    chinwag = ServerProcess(folder).start()
    try:
        for number in range(0, 60, 20):
            await asyncio.gather(*(chat(chinwag, f"K{n}", f"k{n}@kill.example") for n in range(number, number + 20)))
        assert (await _states(database)).get("pending") == 180
        server.state.faults.clear()
        server.state.limits.request_delay = 0.3  # slow enough to be killed mid-delivery
        for _ in range(200):
            if custom_activities(server):
                break
            await asyncio.sleep(0.05)
        chinwag.kill()
    finally:
        chinwag.kill()
    assert (await _states(database)).get("pending", 0) > 0, "the kill came too late to leave work behind"
    server.state.limits.request_delay = 0.0
    with ServerProcess(folder):
        for _ in range(300):
            if "pending" not in await _states(database):
                break
            await asyncio.sleep(0.1)
    assert await _states(database) == {"delivered": 180}
    keys = [activity["primaryAttributeValue"] for activity in custom_activities(server)]
    assert len(keys) == 120 == len(set(keys))  # every engagement and goal recorded once


async def test_an_anonymous_visitors_engagement_waits_for_their_email_on_a_later_visit(
        tmp_path: Path, server: SandboxServer) -> None:
    folder = project(tmp_path / "p", server)
    assert cli("marketo", "setup", "--project", str(folder)).returncode == 0
    with ServerThread(folder, demo=False) as chinwag:
        async with ScriptedVisitor(chinwag) as first_visit:
            await first_visit.run_through("Lin", until_event="engaged")  # a name, no email: the visitor leaves
        await asyncio.sleep(0.5)  # time enough for a delivery round: nothing may go out
        assert chinwag.call(settled)["pending"] == 0
        listing = cli("outbox", "--project", str(folder), "--state", "held", "--json")
        assert [item["kind"] for item in json.loads(listing.stdout)["items"]] == ["engaged"]
        assert not custom_activities(server)

        # Days later, the same browser: the conversation goes on where it stopped.
        async with ScriptedVisitor(chinwag, visitor=first_visit.visitor, session=first_visit.session) as second_visit:
            welcome = await second_visit.connect()
            assert welcome["awaiting"].startswith("email")
            await second_visit.answer("lin@later.example")
            while "completed" not in second_visit.events():
                await second_visit.until("event")
        counts = await wait_settled(chinwag)
    assert counts == {"pending": 0, "delivered": 3, "skipped": 0, "dead": 0}
    [lead] = [lead for lead in server.state.leads.values() if lead.get("email") == "lin@later.example"]
    activities = custom_activities(server)
    assert len(activities) == 2 and {activity["leadId"] for activity in activities} == {lead["id"]}
    assert lead["firstName"] == "Lin"  # the released engagement carried the lead as it then stood


async def test_forget_deletes_the_person_in_marketo_when_the_project_says_so(tmp_path: Path, server: SandboxServer) -> None:
    folder = project(tmp_path / "p", server, delete_on_forget=True)
    assert cli("marketo", "setup", "--project", str(folder)).returncode == 0
    with ServerThread(folder, demo=False) as chinwag:
        await chat(chinwag, "Ada", "ada@client.example")
        await wait_settled(chinwag)
    assert [lead for lead in server.state.leads.values() if lead.get("email") == "ada@client.example"]
    forgotten = cli("forget", "ada@client.example", "--project", str(folder))
    assert forgotten.returncode == 0, forgotten.stderr
    assert json.loads(forgotten.stdout)["crm forget requests"] == 1
    with ServerThread(folder, demo=False) as chinwag:
        counts = await wait_settled(chinwag)
    assert counts["dead"] == 0 and counts["pending"] == 0
    assert not [lead for lead in server.state.leads.values() if lead.get("email") == "ada@client.example"]
    deletes = [call for call in server.state.limits.calls if call.path.endswith("/leads/delete.json")]
    assert len(deletes) == 1

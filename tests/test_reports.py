"""Reports as a marketer reads them: each counting rule of the reference product pinned, the
funnel per card (reached, answered, dropped, waiting), pages, versions, known and anonymous
visitors, the period and dialogue filters, and the formats; bad filters are refused."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import yaml
from chinwag.testing import ScriptedVisitor, ServerThread

from crm_support import DIALOGUE, chat, cli, crm_project, database, remote  # noqa: F401

TOKEN = "a-test-admin-token-0123456789"  # crm_project's


def report(folder: Path, *args: str) -> dict[str, Any]:
    result = cli("report", str(folder), "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_each_counting_rule_and_the_funnel(tmp_path: Path, remote: Any) -> None:
    folder = crm_project(tmp_path / "p", remote)
    with ServerThread(folder, demo=False) as server:
        done = await chat(server, "Ada", "ada@count.example")  # completes: a goal, an email
        async with ScriptedVisitor(server, visitor=done.visitor, session=done.session) as refreshed:
            await refreshed.connect()  # a refresh: the same session, not a second trigger
        async with ScriptedVisitor(server, page_url="https://site.example/pricing?utm_campaign=spring") as halfway:
            await halfway.run_through("Bo", until_event="engaged")  # a name, then gone
        async with ScriptedVisitor(server, page_url="https://site.example/pricing?utm_campaign=autumn") as looker:
            await looker.connect()  # shown the dialogue, never answered
            await looker.question()
        async with ScriptedVisitor(server) as typo:  # a bad email, then a good one: one person acquired
            await typo.run_through("Cy", until_event="engaged")
            await typo.answer("not-an-email")
            assert (await typo.until("invalid"))["type"] == "invalid"
            await typo.answer("cy@count.example")
            while "completed" not in typo.events():
                await typo.until("event")

    contact = report(folder)["dialogues"]["contact"]
    assert (contact["triggered"], contact["engaged"], contact["completed"]) == (4, 3, 2)
    assert (contact["lead_captured"], contact["goal_reached"]) == (2, 2)
    assert contact["engagement_rate"] == 0.75 and contact["conversion_rate"] == round(2 / 3, 4)
    funnel = {step["card"]: step for step in contact["funnel"]}
    assert [step["card"] for step in contact["funnel"]] == ["name", "email"]  # the dialogue's order
    assert funnel["name"] == {"card": "name", "reached": 4, "answered": 3, "dropped": 0, "waiting": 1}
    assert funnel["email"] == {"card": "email", "reached": 3, "answered": 2, "dropped": 0, "waiting": 1}
    assert contact["pages"]["https://site.example/pricing"] == {"sessions": 2, "engaged": 1, "completed": 0,
                                                               "engagement_rate": 0.5}
    assert contact["versions"] == {"1": {"sessions": 4, "engaged": 3, "completed": 2, "engagement_rate": 0.75}}
    assert contact["visitors"] == {"known": 2, "anonymous": 2}

    async def idle(app: Any) -> None:  # the two unanswered questions, 20 minutes later
        from chinwag.tables import sessions
        async with app.store.transaction() as connection:
            await connection.execute(sa.update(sessions).where(sessions.c.status == "active").values(
                updated_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=20)))

    with ServerThread(folder, demo=False) as server:
        server.call(idle)
    funnel = {step["card"]: step for step in report(folder)["dialogues"]["contact"]["funnel"]}
    assert (funnel["name"]["dropped"], funnel["name"]["waiting"]) == (1, 0)
    assert (funnel["email"]["dropped"], funnel["email"]["waiting"]) == (1, 0)


async def test_a_new_version_is_reported_apart(tmp_path: Path, remote: Any) -> None:
    folder = crm_project(tmp_path / "p", remote)
    with ServerThread(folder, demo=False) as server:
        await chat(server, "One", "one@version.example")
    changed = {**DIALOGUE, "version": 2, "cards": [{**DIALOGUE["cards"][0], "text": "What should we call you?"},
                                     *DIALOGUE["cards"][1:]]}
    (folder / "dialogues" / "contact.yaml").write_text(yaml.safe_dump(changed))
    with ServerThread(folder, demo=False) as server:
        await chat(server, "Two", "two@version.example")
        async with ScriptedVisitor(server) as looker:
            await looker.connect()
            await looker.question()
    versions = report(folder)["dialogues"]["contact"]["versions"]
    assert versions["1"]["sessions"] == 1 and versions["2"]["sessions"] == 2 and versions["2"]["engaged"] == 1


async def test_filters_formats_and_bad_input(tmp_path: Path, remote: Any) -> None:
    folder = crm_project(tmp_path / "p", remote)
    with ServerThread(folder, demo=False) as server:
        await chat(server, "Ada", "ada@filter.example")
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
            tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
            whole = (await client.get("/-/admin/report.json", params={"since": "2026-01-01", "until": tomorrow})).json()
            assert whole["dialogues"]["contact"]["triggered"] == 1
            assert (await client.get("/-/admin/report.json", params={"dialogue": "other"})).json()["dialogues"] == {}
            for bad, message in (({"since": "yesterday"}, "since must be a date"),
                                 ({"since": tomorrow, "until": "2026-01-01"}, "since must come before until"),
                                 ({"since": "1900-01-01"}, "at most 3650 days"),
                                 ({"dialog": "contact"}, "unknown parameter 'dialog'")):
                answer = await client.get("/-/admin/report.json", params=bad)
                assert answer.status_code == 400 and message in answer.json()["error"], bad

    past = report(folder, "--until", "2026-01-01")  # before anything happened
    assert past["dialogues"] == {} and past["until"].startswith("2026-01-01T00:00:00")
    rows = list(csv.reader(io.StringIO(cli("report", str(folder), "--format", "csv").stdout)))
    assert rows[0][:2] == ["dialogue", "triggered"] and rows[1][:2] == ["contact", "1"]
    assert rows[1][-2:] == ["1.0", "1.0"]  # engagement and conversion, as fractions
    table = cli("report", str(folder), "--dialogue", "contact").stdout
    assert "contact" in table and "100.0%" in table
    refused = cli("report", str(folder), "--since", "soon")
    assert refused.returncode == 2 and "since must be a date" in refused.stderr


async def test_the_daily_roll_up_gives_the_same_report_and_counts_each_event_once(
        tmp_path: Path, remote: Any, database: str) -> None:
    import asyncio

    from chinwag.report_rollup import catch_up, roll_up
    from chinwag.reports import ReportPeriod, dialogue_report, reported_event_types
    from chinwag.tables import events, sessions

    folder = crm_project(tmp_path / "p", remote, database)
    with ServerThread(folder, demo=False) as server:
        visitors = [await chat(server, f"N{number}", f"n{number}@roll.example") for number in range(6)]
        async with ScriptedVisitor(server) as looker:
            await looker.connect()
            await looker.question()

        async def spread(app: Any) -> None:  # the chats over the last six days, at different hours
            now = dt.datetime.now(dt.timezone.utc)
            async with app.store.transaction() as connection:
                for number, visitor in enumerate(visitors):
                    moment = now - dt.timedelta(days=number, hours=number * 3)
                    await connection.execute(sa.update(events).where(events.c.session_id == visitor.session)
                                             .values(created_at=moment))
                    await connection.execute(sa.update(sessions).where(sessions.c.id == visitor.session)
                                             .values(created_at=moment, updated_at=moment))

        server.call(spread)

        async def reports(app: Any) -> list[dict[str, Any]]:
            now = dt.datetime.now(dt.timezone.utc)
            periods = [ReportPeriod(now - dt.timedelta(days=10), now + dt.timedelta(hours=1)),
                       ReportPeriod(now - dt.timedelta(days=3, hours=7), now - dt.timedelta(hours=20)),
                       ReportPeriod(now - dt.timedelta(days=10), now + dt.timedelta(hours=1), "contact")]
            return [(await dialogue_report(app, period))["dialogues"] for period in periods]

        live = server.call(reports)
        assert live[0]["contact"]["triggered"] == 7 and 0 < live[1]["contact"]["triggered"] < 7

        async def roll(app: Any) -> int:  # two roll-ups at once, from a minute ahead: all settled
            later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=2)
            counted = reported_event_types(app)
            done = await asyncio.gather(roll_up(app.store, counted, now=later), roll_up(app.store, counted, now=later))
            return sum(done) + await catch_up(app.store, counted)

        assert server.call(roll) > 0
        assert server.call(reports) == live  # whole days from the roll-up, the rest live: the same figures
        assert server.call(roll) == 0  # nothing left to count; nothing counted twice
        assert server.call(reports) == live


async def test_the_monthly_cap_stops_new_dialogues_and_warns_once_at_90_percent(tmp_path: Path, remote: Any) -> None:
    from chinwag.outbox import list_items

    folder = crm_project(tmp_path / "p", remote)
    config = yaml.safe_load((folder / "chinwag.yaml").read_text())
    config["monthly_cap"] = 2
    config["notifications"] = {"alerts_to": ["ops@acme.example"],
                               "email": {"from": "chat@acme.example", "console": True}}
    (folder / "chinwag.yaml").write_text(yaml.safe_dump(config))
    with ServerThread(folder, demo=False) as server:
        async with ScriptedVisitor(server) as halfway:  # engaged, then stops: goes on even at the cap
            await halfway.run_through("One", until_event="engaged")
        await chat(server, "Two", "two@cap.example")  # the second engagement: 2 of 2
        async with ScriptedVisitor(server) as late:
            welcome = await late.connect()
            assert welcome["dialogue"] is None and welcome["status"] == "none"  # nothing starts
        async with ScriptedVisitor(server, visitor=halfway.visitor, session=halfway.session) as back:
            assert (await back.connect())["awaiting"] is not None  # the engaged one goes on
        async with ScriptedVisitor(server) as later:
            await later.connect()
        warnings = [item for item in server.call(lambda app: list_items(app.store)) if item.kind == "monthly_cap_near"]
    assert len(warnings) == 1 and warnings[0].consumer == "notify:email"  # once, though several hellos met it
    assert report(folder)["dialogues"]["contact"]["engaged"] == 2

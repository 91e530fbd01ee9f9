"""The CRM connector contract, seen from chinwag's side: people pulled in pages (resumable) into
core tables, a visitor recognised by email in the same dialogue, a CRM outage never stalling a
chat, and list memberships and lead fields written back through the outbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from chinwag.app import Chinwag
from chinwag.crm import CrmConnector
from chinwag.crm import LeadRecord
from chinwag.crm_records import (CrmActivity, activities_for_lead, forget_records, metadata, pull, records_for_email,
                                 store_activities, store_records, sync_state)
from chinwag.store import Store
from chinwag.testing import ServerThread
from crm_support import DIALOGUE, chat, crm_project, query, remote, wait_until  # noqa: F401

CHINWAG = str(Path(sys.executable).with_name("chinwag"))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CHINWAG_")}
    return subprocess.run([CHINWAG, *args], capture_output=True, text=True, timeout=120, env=clean)


def test_the_loopback_connector_meets_the_contract(tmp_path: Path, remote: Any) -> None:
    app = Chinwag.from_project(crm_project(tmp_path / "p", remote))
    assert isinstance(app.crm_connectors["loopback-crm"], CrmConnector)
    assert app.outbox_consumers.plugin_of("loopback-crm") == "chinwag-loopback-crm"


async def test_a_synced_lead_is_recognised_by_email_in_the_same_dialogue(tmp_path: Path, remote: Any) -> None:
    for number in range(250):
        remote.state.add_lead(f"lead{number}@known.example", {"firstName": f"Lead{number}"}, {"name": f"Co{number}"})
    remote.state.add_lead("ada@known.example", {"firstName": "Ada"}, {"name": "Analytical Engines"})
    project = crm_project(tmp_path / "p", remote)
    result = cli("crm", "sync", "--project", str(project), "loopback-crm")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"connector": "loopback-crm", "rows": 251, "total_rows": 251, "pages": 3,
                                         "done": True, "refused": 0}
    assert "loopback-crm: 251/251 rows, page 3" in result.stderr
    [status] = json.loads(cli("crm", "status", "--project", str(project)).stdout)
    assert (status["connector"], status["rows"], status["cursor"], status["last_error"]) == ("loopback-crm", 251, "251", None)
    remote.state.down = True  # recognition needs no call to the CRM once synced
    with ServerThread(project, demo=False) as server:
        visitor = await chat(server, "A.", "Ada@Known.example")
    assert "Welcome, Ada of Analytical Engines." in visitor.texts()
    [row] = await query(f"sqlite+aiosqlite:///{project / 'chinwag.db'}", "SELECT lead FROM visitors")
    lead = json.loads(row.lead) if isinstance(row.lead, str) else row.lead
    assert lead["person.firstName"] == "Ada" and lead["lead.firstName"] == "A."


async def test_an_unsynced_lead_is_looked_up_in_real_time_and_kept(tmp_path: Path, remote: Any) -> None:
    remote.state.add_lead("grace@navy.example", {"firstName": "Grace"}, {"name": "Navy"})
    project = crm_project(tmp_path / "p", remote)
    with ServerThread(project, demo=False) as server:
        visitor = await chat(server, "G", "grace@navy.example")
        stored = server.call(lambda app: records_for_email(app.store, "grace@navy.example"))
    assert "Welcome, Grace of Navy." in visitor.texts()
    assert [(record.lead_id, record.person["firstName"]) for record in stored] == [("L1", "Grace")]


async def test_a_crm_outage_never_stalls_or_breaks_the_chat(tmp_path: Path, remote: Any) -> None:
    remote.state.down = True
    project = crm_project(tmp_path / "p", remote)
    with ServerThread(project, demo=False) as server:
        visitor = await chat(server, "Eve", "eve@client.example")
    assert "Welcome, friend of nowhere." in visitor.texts()


async def test_a_company_the_visitor_gave_is_kept_over_the_crms(tmp_path: Path, remote: Any) -> None:
    remote.state.add_lead("ada@known.example", {"firstName": "Ada"}, {"name": "From the CRM"})
    project = crm_project(tmp_path / "p", remote)
    cards = list(DIALOGUE["cards"])
    cards.insert(1, {"id": "company", "type": "capture", "text": "Company?", "field": "company.name"})
    (project / "dialogues" / "contact.yaml").write_text(yaml.safe_dump({**DIALOGUE, "cards": cards}))
    with ServerThread(project, demo=False) as server:
        from chinwag.testing import ScriptedVisitor

        async with ScriptedVisitor(server) as visitor:
            await visitor.connect()
            for answer in ("Ada", "Her Own Firm", "ada@known.example"):
                await visitor.question()
                await visitor.answer(answer)
            while "completed" not in visitor.events():
                await visitor.until("event")
    assert "Welcome, Ada of Her Own Firm." in visitor.texts()


async def test_a_pull_resumes_from_its_saved_cursor(tmp_path: Path, remote: Any) -> None:
    for number in range(230):
        remote.state.add_lead(f"p{number}@known.example", {"firstName": f"P{number}"})
    app = Chinwag.from_project(crm_project(tmp_path / "p", remote))
    await app.start()
    try:
        connector = app.crm_connectors["loopback-crm"]
        first = await pull(app.store, connector, max_pages=1)  # interrupted after one page
        assert (first.rows, first.done) == (100, False)
        remote.state.fail_remaining = 1
        with pytest.raises(Exception, match="503"):
            await pull(app.store, connector)
        assert (await sync_state(app.store, "loopback-crm"))["last_error"].startswith("RetryLater")
        rest = await pull(app.store, connector)
        assert (rest.rows, rest.total_rows, rest.done) == (130, 230, True)
        state = await sync_state(app.store, "loopback-crm")
        assert state["rows"] == 230 and state["cursor"] == "230" and state["last_error"] is None
        [count] = await query(app.config.database, "SELECT count(*) AS n FROM crm_records")
        assert count.n == 230  # no page stored twice
        assert await forget_records(app.store, "P7@known.example") == 1
        assert await records_for_email(app.store, "p7@known.example") == []
    finally:
        await app.stop()


async def test_goals_add_the_lead_to_the_configured_list(tmp_path: Path, remote: Any) -> None:
    project = crm_project(tmp_path / "p", remote, list_for_goal="webinar-2027")
    with ServerThread(project, demo=False) as server:
        await chat(server, "Ada", "ada@client.example")
        database = server.app.config.database
        await wait_until(lambda: _delivered_count(database, 7), message="the chat's events delivered")
    assert remote.state.lists["webinar-2027"] == {"ada@client.example": "contact-given"}


async def _delivered_count(database: str, count: int) -> bool:
    [row] = await query(database, "SELECT count(*) AS n FROM outbox WHERE state = 'delivered'")
    return row.n == count


async def test_records_a_crm_returns_malformed_are_refused_and_the_rest_stored(tmp_path: Path, remote: Any) -> None:
    remote.state.add_lead("ok@known.example", {"firstName": "Ok"})
    remote.state.add_lead("tags@known.example", {"firstName": "Tags", "tags": ["a", "b"]})
    remote.state.add_lead("x" * 400 + "@known.example", {"firstName": "Long"})
    project = crm_project(tmp_path / "p", remote)
    result = cli("crm", "sync", "--project", str(project), "loopback-crm")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["refused"] == 2
    assert "person fields must be text, numbers, true/false or empty (lead L2)" in result.stderr
    assert "email must be text of at most 320 characters (lead L3)" in result.stderr
    rows = await query(f"sqlite+aiosqlite:///{project / 'chinwag.db'}", "SELECT email FROM crm_records")
    assert [row.email for row in rows] == ["ok@known.example"]


async def test_pulled_activities_are_stored_once_listed_by_lead_and_forgotten_with_it(tmp_path: Path) -> None:
    import datetime as dt

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}", metadata)
    await store.create_schema()
    try:
        day = dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc)
        await store_records(store, "crm", [LeadRecord("7", "ada@example.com", {}, {}, None),
                                           LeadRecord("8", "bob@example.com", {}, {}, None)])
        visits = [CrmActivity(str(n), "7" if n % 2 else "8", 1 if n < 4 else 2, day - dt.timedelta(days=n),
                              f"/page/{n}", {"Referrer": "search"}) for n in range(6)]
        await store_activities(store, "crm", visits)
        await store_activities(store, "crm", visits[:3])  # again: each activity once
        ada = await activities_for_lead(store, "crm", "7")
        assert [a.activity_id for a in ada] == ["5", "3", "1"]  # oldest first
        assert ada[0] == visits[5] and ada[0].attributes == {"Referrer": "search"}
        assert [a.activity_id for a in await activities_for_lead(store, "crm", "7", [1])] == ["3", "1"]
        assert await forget_records(store, "ada@example.com") == 1
        assert await activities_for_lead(store, "crm", "7") == []
        assert len(await activities_for_lead(store, "crm", "8")) == 3
    finally:
        await store.engine.dispose()

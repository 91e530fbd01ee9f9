"""``chinwag forget EMAIL`` and ``POST /-/admin/forget.json``: after a person is forgotten, no
table holds their email, name or visitor id; other visitors keep everything; the CRM is asked
once, through the outbox, to delete the person too; bad input is refused where it enters.

The PostgreSQL run needs ``CHINWAG_TEST_POSTGRES_URL`` (``make test`` sets it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from chinwag.testing import ServerThread
from sqlalchemy.ext.asyncio import create_async_engine

from crm_support import chat, cli, crm_project, database, remote, wait_until  # noqa: F401

TOKEN = "a-test-admin-token-0123456789"  # crm_project's


async def every_row(database: str) -> dict[str, list[str]]:
    """Every row of every table, each as one line of text, by table."""
    engine = create_async_engine(database)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
            return {name: [json.dumps([str(value) for value in row]) for row in
                           await connection.execute(sa.text(f'SELECT * FROM "{name}"'))] for name in names}
    finally:
        await engine.dispose()


def mentioning(rows: dict[str, list[str]], *needles: str) -> dict[str, list[str]]:
    return {table: found for table, lines in rows.items()
            if (found := [line for line in lines if any(needle.lower() in line.lower() for needle in needles)])}


async def test_forget_leaves_no_trace_of_the_person_and_asks_the_crm_once(
        tmp_path: Path, remote: Any, database: str) -> None:
    remote.state.add_lead("ada@forget.example", {"firstName": "Adaline"}, {"name": "Engines"})
    folder = crm_project(tmp_path / "p", remote, database)
    with ServerThread(folder, demo=False) as server:
        ada = await chat(server, "Adaline", "Ada@Forget.example")
        await chat(server, "Bobbert", "bob@keep.example")
        await wait_until(lambda: len(remote.state.applied) >= 2, message="the chats delivered")
    before = await every_row(database)
    assert mentioning(before, "ada@forget.example", "Adaline", ada.visitor).keys() >= {
        "visitors", "sessions", "transcript", "events", "outbox", "crm_records"}

    result = cli("forget", "ADA@forget.example", "--project", str(folder))
    assert result.returncode == 0, result.stderr
    removed = json.loads(result.stdout)
    assert removed["visitors"] == 1 and removed["sessions"] == 1 and removed["crm records"] == 1
    assert removed["transcript"] > 0 and removed["events"] > 0 and removed["crm forget requests"] == 1

    with ServerThread(folder, demo=False) as server:  # the outbox asks the CRM, then keeps no trace
        await wait_until(lambda: remote.state.forgotten == ["ada@forget.example"], message="the CRM asked")
        await wait_until(lambda: _forget_settled(server), message="the forget item settled")
    after = await every_row(database)
    assert mentioning(after, "ada@forget.example", "Adaline", ada.visitor) == {}
    assert mentioning(after, "bob@keep.example", "Bobbert").keys() >= {"visitors", "sessions", "transcript", "outbox"}
    assert remote.state.forgotten == ["ada@forget.example"]  # once


def _forget_settled(server: ServerThread) -> bool:
    from chinwag.outbox import list_items

    items = server.call(lambda app: list_items(app.store))
    return any(item.kind == "forget" and item.state == "delivered" for item in items)


async def test_forget_anonymises_meetings_through_the_plugin_hook(tmp_path: Path, remote: Any) -> None:
    folder = crm_project(tmp_path / "p", remote)
    with ServerThread(folder, demo=False) as server:
        visitor = await chat(server, "Grace", "grace@navy.example")

        async def book_a_meeting(app: Any) -> None:  # a meeting row as the meeting card writes it
            import datetime as dt

            from chinwag.meetings.tables import meetings
            now = dt.datetime.now(dt.timezone.utc)
            async with app.store.transaction() as connection:
                await connection.execute(sa.insert(meetings).values(
                    id="m1", idempotency_key="k1", agent_email="agent@example.com", queue="sales",
                    status="scheduled", start=now, end=now, lead_email="Grace@Navy.example", lead_name="Grace Hopper",
                    session_id=visitor.session, dialogue_id="contact", page_url="https://site.example/pricing",
                    created_at=now, updated_at=now))

        server.call(book_a_meeting)
    result = cli("forget", "grace@navy.example", "--project", str(folder))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["meetings anonymised"] == 1
    [meeting] = (await every_row(f"sqlite+aiosqlite:///{folder / 'chinwag.db'}"))["meetings"]
    assert "Grace" not in meeting and "grace" not in meeting and "pricing" not in meeting
    assert "agent@example.com" in meeting and "scheduled" in meeting  # the agent's side stays


async def test_the_admin_api_forgets_and_bad_input_is_refused(tmp_path: Path, remote: Any) -> None:
    folder = crm_project(tmp_path / "p", remote)
    assert cli("forget", "not-an-email", "--project", str(folder)).returncode == 2
    assert "not an email address" in cli("forget", "not-an-email", "--project", str(folder)).stderr
    with ServerThread(folder, demo=False) as server:
        await chat(server, "Lin", "lin@client.example")
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.post("/-/admin/forget.json", json={"email": "lin@client.example"})).status_code == 401
            for body in ({}, {"email": 5}, {"email": "x"}, ["lin@client.example"]):
                refused = await client.post("/-/admin/forget.json", json=body, headers=headers)
                assert refused.status_code == 400 and "email" in refused.json()["error"]
            done = await client.post("/-/admin/forget.json", json={"email": " LIN@client.example "}, headers=headers)
            assert done.status_code == 200
            assert done.json()["email"] == "lin@client.example" and done.json()["removed"]["visitors"] == 1
            again = await client.post("/-/admin/forget.json", json={"email": "lin@client.example"}, headers=headers)
            assert again.json()["removed"]["visitors"] == 0  # nothing left to remove


async def test_a_plugin_that_fails_to_forget_rolls_the_whole_forget_back(tmp_path: Path, remote: Any) -> None:
    folder = crm_project(tmp_path / "p", remote)
    with ServerThread(folder, demo=False) as server:
        await chat(server, "Eve", "eve@client.example")
    database = f"sqlite+aiosqlite:///{folder / 'chinwag.db'}"
    before = mentioning(await every_row(database), "eve@client.example")
    failed = cli("forget", "eve@client.example", "--project", str(folder), RAISING_PLUGIN_HOOK="forget_person")
    assert failed.returncode == 1
    assert "plugin chinwag-raising-plugin could not forget its part" in failed.stderr
    assert "nothing was forgotten" in failed.stderr
    assert mentioning(await every_row(database), "eve@client.example") == before  # every row still there

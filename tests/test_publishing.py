"""Publishing: draft and published states kept in the database, picked up by every process
without a restart; `chinwag dialogues list|publish|unpublish` and the admin API.

The PostgreSQL run needs ``CHINWAG_TEST_POSTGRES_URL`` (``make test`` sets it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from chinwag.testing import ScriptedVisitor, ServerThread, write_project

from crm_support import cli, database  # noqa: F401  (the fixture)

ADMIN_TOKEN = "publishing-admin-token-0123456789"


def ask(version: int) -> dict[str, Any]:
    return {"id": "ask", "name": "Ask", "version": version, "cards": [
        {"id": "name", "type": "capture", "text": f"Your name (v{version})?", "field": "lead.firstName"},
        {"id": "why", "type": "capture", "text": f"Why (v{version})?", "field": "lead.interest"},
        {"id": "bye", "type": "end", "text": f"Bye from v{version}"}]}


def project(path: Path, database_url: str, mode: str, **dialogues: dict[str, Any]) -> Path:
    return write_project(path, {"name": "publishing", "database": database_url, "response_delay": 0,
                                "admin_token": ADMIN_TOKEN, "attributes": [{"name": "lead.interest"}],
                                "publishing": {"mode": mode, "refresh_seconds": 0.2}}, dialogues)


def chinwag(folder: Path, *args: str) -> Any:
    """``chinwag dialogues ...`` in a process of its own: its output as JSON (or the failure)."""
    result = cli("dialogues", *args, "--project", str(folder))
    return json.loads(result.stdout) if result.returncode == 0 else result


async def first_text(server: ServerThread, **visitor: Any) -> tuple[ScriptedVisitor, str | None]:
    """A visitor's welcome on the page: the first question's text, or None when no dialogue is shown."""
    async with ScriptedVisitor(server, **visitor) as guest:
        welcome = await guest.connect()
        if welcome["session"] is None:
            return guest, None
        return guest, (await guest.question())["text"]


async def eventually(server: ServerThread, expected: str | None, **visitor: Any) -> ScriptedVisitor:
    """A new visitor (or the given one coming back) sees ``expected`` once the servers have
    picked the change up (they read what is published every 0.2 s)."""
    import asyncio

    for _ in range(50):
        guest, text = await first_text(server, **visitor)
        if text == expected:
            return guest
        await asyncio.sleep(0.1)
    raise AssertionError(f"the server kept showing {text!r}, not {expected!r}")


async def test_a_publish_from_another_process_reaches_every_server_without_a_restart(tmp_path: Path, database: str) -> None:
    folder = project(tmp_path / "p", database, "manual", ask=ask(1))
    second = tmp_path / "second"  # a second server whose folder still has version 1 when 2 is published
    shutil.copytree(folder, second)
    with ServerThread(folder, demo=False) as one, ServerThread(second, demo=False) as two:
        assert (await first_text(one))[1] is None  # manual: version 1 is a draft, nothing is shown
        listing = chinwag(folder, "list", "--format", "json")["dialogues"]
        assert [(row["id"], row["status"], row["latest_version"]) for row in listing] == [("ask", "draft", 1)]

        assert chinwag(folder, "publish", "ask")["version"] == 1
        await eventually(one, "Your name (v1)?")
        await eventually(two, "Your name (v1)?")
        async with ScriptedVisitor(one) as engaged:
            await engaged.run_through("Ada", until_event="engaged")
        async with ScriptedVisitor(two) as shown:
            await shown.connect()
            assert (await shown.question())["text"] == "Your name (v1)?"  # shown, never answered

        (folder / "dialogues" / "ask.yaml").write_text(yaml.safe_dump(ask(2)))
        published = chinwag(folder, "publish", "ask", "--by", "marketing")  # records version 2 and publishes it
        assert (published["version"], published["changed_by"]) == (2, "marketing")
        await eventually(two, "Your name (v2)?")  # from the stored definition: its own file says version 1
        async with ScriptedVisitor(two, visitor=engaged.visitor, session=engaged.session) as back:
            assert (await back.connect())["session"] == engaged.session  # engaged: finishes version 1
            await back.answer("pricing")
            assert (await back.until("message"))["text"] == "Bye from v1"
        _, text = await first_text(one, visitor=shown.visitor, session=shown.session)
        assert text == "Your name (v2)?"  # shown version 1 but never answered: gets version 2

        async with ScriptedVisitor(one) as engaged_v2:
            await engaged_v2.run_through("Bo", until_event="engaged")
        assert chinwag(folder, "unpublish", "ask")["status"] == "unpublished"
        await eventually(two, None)
        _, text = await first_text(two, visitor=shown.visitor)
        assert text is None  # not engaged: the dialogue is gone for them
        async with ScriptedVisitor(two, visitor=engaged_v2.visitor, session=engaged_v2.session) as back:
            welcome = await back.connect()
            assert welcome["session"] == engaged_v2.session and welcome["awaiting"].startswith("why")  # engaged: goes on
            await back.answer("demo")
            assert (await back.until("message"))["text"] == "Bye from v2"

    listing = chinwag(second, "list", "--format", "json")["dialogues"]
    assert [(row["status"], row["published_version"], row["latest_version"], row["versions"], row["changed_by"])
            for row in listing] == [("unpublished", None, 2, [1, 2], "command line")]


async def test_auto_mode_publishes_the_files_and_respects_an_unpublish(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}"
    folder = project(tmp_path / "p", database_url, "auto",
                     ask=ask(1), gone={**ask(1), "id": "gone", "name": "Gone", "priority": 500})
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with ServerThread(folder, demo=False) as server:
        assert (await first_text(server))[1] == "Your name (v1)?"  # published at start, as the files say
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as admin:
            listing = (await admin.get("/-/admin/dialogues.json")).json()["dialogues"]
            assert {row["id"]: (row["status"], row["changed_by"], row["running"]) for row in listing} == {
                "ask": ("published", "auto (project files)", True), "gone": ("published", "auto (project files)", True)}
            refused = await admin.post("/-/admin/dialogues/ask/unpublish.json", headers={"Authorization": "Bearer no"})
            assert refused.status_code == 401
            done = await admin.post("/-/admin/dialogues/ask/unpublish.json", json={"by": "ops"})
            assert (done.status_code, done.json()["status"], done.json()["changed_by"]) == (200, "unpublished",
                                                                                            "admin API (ops)")
            assert (await admin.post("/-/admin/dialogues/ask/unpublish.json")).status_code == 404  # not published
            assert (await admin.post("/-/admin/dialogues/nope/publish.json")).status_code == 404
            bad = await admin.post("/-/admin/dialogues/ask/publish.json", json={"version": 7})
            assert bad.status_code == 400 and "no version 7 (known: 1)" in bad.json()["error"]
            for body in ({"version": "1"}, {"version": True}, {"when": "now"}):
                assert (await admin.post("/-/admin/dialogues/ask/publish.json", json=body)).status_code == 400
            assert (await admin.post("/-/admin/dialogues/ask/publish.json", content=b"[1")).status_code == 400
        # The process that unpublished sees it at once: the next dialogue by priority is shown.
        async with ScriptedVisitor(server) as check:
            welcome = await check.connect()
            assert welcome["dialogue"]["id"] == "gone"

    (folder / "dialogues" / "ask.yaml").write_text(yaml.safe_dump(ask(2)))  # a new version of an unpublished one
    (folder / "dialogues" / "gone.yaml").unlink()  # and a dialogue whose file is removed
    with ServerThread(folder, demo=False) as server:
        assert (await first_text(server))[1] is None  # neither is shown
        listing = chinwag(folder, "list", "--format", "json")["dialogues"]
        assert [(row["id"], row["status"], row["latest_version"], row["in_files"]) for row in listing] == [
            ("ask", "unpublished", 2, True), ("gone", "unpublished", 1, False)]
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as admin:
            rollback = await admin.post("/-/admin/dialogues/ask/publish.json", json={"version": 1})
            assert rollback.json()["version"] == 1
        assert (await first_text(server))[1] == "Your name (v1)?"  # the stored version 1, not the file's 2
    with ServerThread(folder, demo=False) as server:  # auto: the files are the truth at the next start
        assert (await first_text(server))[1] == "Your name (v2)?"


def test_publishing_settings_and_commands_say_what_is_wrong(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "p", {"name": "p", "publishing": {"mode": "sometimes", "refresh_seconds": 0,
                                                                        "every": 3}}, {"ask": ask(1)})
    result = cli("validate", str(folder))
    assert result.returncode == 1
    assert "chinwag.yaml:3: publishing.mode: must be one of auto, manual" in result.stderr
    assert "publishing.refresh_seconds: must be a number of seconds from 0.05 to 3600" in result.stderr
    assert "publishing.every: unknown setting (known: mode, refresh_seconds)" in result.stderr
    folder = project(tmp_path / "q", f"sqlite+aiosqlite:///{tmp_path / 'q.db'}", "manual", ask=ask(1))
    for args, message in ((("publish", "nope"), "Error: there is no dialogue 'nope' (known: ask)"),
                          (("publish", "ask", "--version", "3"), "Error: dialogue 'ask' has no version 3 (known: 1)"),
                          (("unpublish", "ask"), "Error: dialogue 'ask' is not published (known: ask)")):
        failed = chinwag(folder, *args)
        assert failed.returncode == 1 and message in failed.stderr
    table = cli("dialogues", "list", "--project", str(folder)).stdout.splitlines()
    assert table[0].split() == ["DIALOGUE", "STATUS", "PUBLISHED", "LATEST", "RUNNING", "CHANGED", "BY"]
    assert table[1].split() == ["ask", "draft", "-", "1", "no", "-", "-"]


async def test_a_page_cannot_start_a_dialogue_that_is_not_published(tmp_path: Path) -> None:
    folder = project(tmp_path / "p", f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}", "manual", ask=ask(1))
    with ServerThread(folder, demo=False) as server:
        async with ScriptedVisitor(server) as guest:
            await guest.connect(minor=1)
            await guest.send({"type": "start", "dialogue": "ask"})
            error = await guest.until("error")
            assert (error["code"], error["message"]) == ("not_running", "dialogue 'ask' is not published")
            await server_publish(server, "ask")
            await guest.send({"type": "start", "dialogue": "ask"})
            assert (await guest.question())["text"] == "Your name (v1)?"


async def server_publish(server: ServerThread, dialogue_id: str) -> None:
    """Publish through the server's own app, as the admin console does (``chinwag.publishing.publish``)."""
    import asyncio

    from chinwag.publishing import publish

    await asyncio.get_running_loop().run_in_executor(None, lambda: server.call(
        lambda app: publish(app, dialogue_id, by="console: ada@example.com")))

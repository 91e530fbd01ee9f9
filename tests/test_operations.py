"""What operators use: health, the admin API, reports, purge and config redaction."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import sqlalchemy as sa

from chinwag.config import load_config
from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerThread, write_project

CHINWAG = str(Path(sys.executable).parent / "chinwag")
TOKEN = "test-admin-token-0123456789"


def admin_project(tmp_path: Path) -> Path:
    os.environ["CHINWAG_TEST_TOKEN"] = TOKEN
    return write_project(tmp_path / "p", copy_from=QUICKSTART, config={
        "admin_token": {"$env": "CHINWAG_TEST_TOKEN"},
        "plugins": {"quote_card": {"event_log": "/dev/null", "api_secret": "hunter2-hunter2"}}})


async def chat_until_email(server: ServerThread) -> ScriptedVisitor:
    visitor = ScriptedVisitor(server)
    await visitor.connect()
    await visitor.question()
    await visitor.answer("demo")
    await visitor.question()
    await visitor.answer("Ada")
    await visitor.question()
    await visitor.answer("ada@example.com")
    await visitor.question()
    await visitor.close()
    return visitor


def test_healthz_says_ok(chinwag_server: ServerThread) -> None:
    response = httpx.get(f"{chinwag_server.url}/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok", "dialogues": 1}


def test_admin_api_needs_the_token(tmp_path: Path) -> None:
    with ServerThread(admin_project(tmp_path), demo=False) as server:
        url = f"{server.url}/-/admin/config.json"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 401
        response = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        config = response.json()
        assert config["admin_token"] == {"$env": "CHINWAG_TEST_TOKEN"}
        assert config["plugins"]["quote_card"]["api_secret"] == "***"
        assert TOKEN not in response.text and "hunter2" not in response.text


def test_admin_api_is_closed_without_a_configured_token(chinwag_server: ServerThread) -> None:
    response = httpx.get(f"{chinwag_server.url}/-/admin/report.json", headers={"Authorization": "Bearer anything-at-all"})
    assert response.status_code == 403
    assert "admin_token" in response.json()["error"]


async def test_report_counts_and_rates(tmp_path: Path) -> None:
    project = admin_project(tmp_path)
    with ServerThread(project, demo=False) as server:
        await chat_until_email(server)
        async with ScriptedVisitor(server) as idle:
            await idle.connect()
            await idle.question()
        report = httpx.get(f"{server.url}/-/admin/report.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    welcome = report["dialogues"]["welcome"]
    assert (welcome["triggered"], welcome["engaged"], welcome["lead_captured"], welcome["goal_reached"]) == (2, 1, 1, 1)
    assert welcome["engagement_rate"] == 0.5 and welcome["conversion_rate"] == 1.0
    printed = subprocess.run([CHINWAG, "report", str(project), "--json"], capture_output=True, text=True, timeout=60)
    assert json.loads(printed.stdout)["dialogues"]["welcome"]["triggered"] == 2
    table = subprocess.run([CHINWAG, "report", str(project)], capture_output=True, text=True, timeout=60).stdout
    assert "welcome" in table and "50.0%" in table


async def test_purge_deletes_the_conversations_older_than_retention_and_keeps_known_visitors(tmp_path: Path) -> None:
    project = admin_project(tmp_path)
    with ServerThread(project, demo=False) as server:
        old = await chat_until_email(server)
        recent = await chat_until_email(server)

        async def age(app):
            from chinwag.tables import sessions, visitors
            long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=100)
            async with app.store.transaction() as connection:
                await connection.execute(sa.update(sessions).where(sessions.c.id == old.session).values(updated_at=long_ago))
                await connection.execute(sa.update(visitors).where(visitors.c.id == old.visitor).values(last_seen_at=long_ago))

        server.call(age)
    result = subprocess.run([CHINWAG, "purge", str(project)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts["sessions"] == 1 and counts.get("visitors", 0) == 0 and counts["transcript"] > 0
    with ServerThread(project, demo=False) as server:
        async with ScriptedVisitor(server, visitor=recent.visitor, session=recent.session) as kept:
            assert (await kept.connect())["session"] == recent.session
        async with ScriptedVisitor(server, visitor=old.visitor, session=old.session) as returning:
            welcome = await returning.connect()  # a known visitor is kept; their old conversation is not
            assert welcome["visitor"] == old.visitor and welcome["session"] != old.session


def test_relative_sqlite_path_lands_in_the_project_folder(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART)
    assert load_config(project).database == f"sqlite+aiosqlite:///{(project / 'chinwag.db').resolve()}"


def test_config_command_prints_without_secrets(tmp_path: Path) -> None:
    project = admin_project(tmp_path)
    result = subprocess.run([CHINWAG, "config", str(project)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "CHINWAG_TEST_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["admin_token"] == {"$env": "CHINWAG_TEST_TOKEN"}
    assert printed["plugins"]["quote_card"] == {"event_log": "/dev/null", "api_secret": "***"}
    assert TOKEN not in result.stdout and "hunter2" not in result.stdout


def test_report_days_are_parsed_strictly(tmp_path: Path) -> None:
    with ServerThread(admin_project(tmp_path), demo=False) as server:
        def days(value: str) -> httpx.Response:
            return httpx.get(f"{server.url}/-/admin/report.json", params={"days": value},
                             headers={"Authorization": f"Bearer {TOKEN}"})

        for bad in ("\u00b2", "0", "-3", "99999999999", "1.5", "ten"):
            answer = days(bad)
            assert answer.status_code == 400, bad
            assert answer.json() == {"error": "days must be a whole number from 1 to 3650"}
        assert days("3650").json()["days"] == 3650

"""Notifications over a real SMTP server on loopback (aiosmtpd): the agent's e-mail after a
booking (recipients, content, the time in the agent's zone, the transcript link), a failure
alert when the calendar is down and its throttle, SMTP down then back (delivered once), the
agent told when their calendar needs reconnecting, ``chinwag notify test``, settings checked
with their lines, and hostile visitor text escaped."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import subprocess
import sys
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller

from meetings_support import (agent, book, choose, cli, connect_agent, free_port, google, project,  # noqa: F401
                              secret_key, serve, to_slots)

CHINWAG = str(Path(sys.executable).with_name("chinwag"))
TOKEN = "a-test-admin-token-0123456789"  # meetings_support's


class Inbox:
    """An SMTP server on loopback that keeps every message it accepts; it can go down and come back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def up(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    async def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        for _ in range(int(timeout * 10)):
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            await asyncio.sleep(0.1)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    box.up()
    yield box
    box.down()


def notified(folder: Path, inbox: Inbox, **notifications: Any) -> Path:
    """Add ``notifications:`` (e-mail to ``inbox``) and a fast outbox to a project."""
    config = yaml.safe_load((folder / "chinwag.yaml").read_text())
    config["notifications"] = {"alerts_to": ["ops@acme.example"], "email": {
        "from": "chat@acme.example", "host": "127.0.0.1", "port": inbox.port, "security": "none", "timeout": 5},
        **notifications}
    config["outbox"] = {"base_delay": 0.05, "max_delay": 0.5, "poll_interval": 0.1, "max_attempts": 1000}
    (folder / "chinwag.yaml").write_text(yaml.safe_dump(config))
    return folder


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()  # type: ignore[union-attr]


async def test_the_agent_gets_an_email_with_the_visitor_and_the_time_in_their_zone(
        tmp_path: Path, google: Any, inbox: Inbox) -> None:
    port = free_port()
    folder = notified(project(tmp_path / "p", port, [agent("ada@example.com", time_zone="America/New_York")],
                              google=google), inbox)
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        visitor, reply = await book(server, "grace@navy.example", interest="pricing")
        await visitor.close()
        [message] = await inbox.wait_for(1)
        transcript_url = next(line.split(": ", 1)[1] for line in text_of(message).splitlines()
                              if line.startswith("The whole conversation"))
        # The admin console (installed here) serves the conversation's page: the link asks the agent
        # to sign in and comes back to it; the same transcript is in the admin API.
        page = urlsplit(transcript_url).path
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert page == f"/-/console/conversations/{visitor.session}"
            sign_in = await client.get(page)
            assert sign_in.status_code == 303 and sign_in.headers["location"] == (
                f"/-/console/login?next={quote(page, safe='')}")
            transcript = (await client.get(f"/-/admin/sessions/{visitor.session}.json",
                                           headers={"Authorization": f"Bearer {TOKEN}"})).json()
    assert message["To"] == "ada@example.com" and message["From"] == "chat@acme.example"
    assert "grace@navy.example" in message["Subject"] and "(America/New_York)" in message["Subject"]
    body = text_of(message)
    assert "grace@navy.example" in body and "lead.interest: pricing" in body and "Book a meeting" in body
    start = dt.datetime.fromisoformat(google.state.events["ada@example.com"].popitem()[1]["start"]["dateTime"])
    local = start.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert f"{local:%H:%M} (America/New_York)" in body  # the agent's own clock
    assert "<table" in html_of(message) and message["Message-ID"].startswith("<e_")
    assert transcript["session"] == visitor.session and transcript["answers"]["interest"] == "pricing"
    assert any(frame.get("type") == "question" for frame in transcript["transcript"])


async def test_a_failing_calendar_alerts_the_team_once_per_interval(tmp_path: Path, google: Any, inbox: Inbox) -> None:
    port = free_port()
    folder = notified(project(tmp_path / "p", port, [agent("ada@example.com")], google=google), inbox)
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        for visitor_email in ("one@client.example", "two@client.example"):
            visitor, question = await to_slots(server, visitor_email)
            google.state.fail_next(503, times=10, path="/events", method="POST")
            reply = await choose(visitor, question["input"]["slots"][0]["id"])
            assert reply["text"].startswith("The calendar service isn't answering right now")
            await visitor.close()
        [alert] = await inbox.wait_for(1)
        await asyncio.sleep(1.0)  # the second failure is settled too, held back
        listing = subprocess.run([CHINWAG, "outbox", "--project", str(folder), "--state", "skipped"],
                                 capture_output=True, text=True, timeout=60).stdout
    assert len(inbox.messages) == 1 and alert["To"] == "ops@acme.example"
    assert "ada@example.com" in alert["Subject"] and "one@client.example" in text_of(alert)
    assert "held back: one booking_failed alert per 3600 s" in listing


async def test_smtp_down_then_back_delivers_each_message_once(tmp_path: Path, google: Any, inbox: Inbox) -> None:
    port = free_port()
    folder = notified(project(tmp_path / "p", port, [agent("ada@example.com")], google=google), inbox)
    inbox.down()
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        visitor, _ = await book(server, "lin@client.example")
        await visitor.close()
        await asyncio.sleep(1.5)  # several failed attempts meanwhile
        assert inbox.messages == []
        inbox.up()
        await inbox.wait_for(1)
        await asyncio.sleep(1.0)
    assert len(inbox.messages) == 1 and "lin@client.example" in inbox.messages[0]["Subject"]


async def test_an_agent_whose_calendar_is_revoked_is_told(tmp_path: Path, google: Any, inbox: Inbox) -> None:
    port = free_port()
    folder = notified(project(tmp_path / "p", port, [agent("ada@example.com")], google=google), inbox)
    with serve(folder, port) as server:
        await connect_agent(folder, "ada@example.com")
        google.state.revoke(user="ada@example.com")
        google.state.expire_access_tokens()
        visitor, reply = await to_slots(server, "max@client.example")  # the offer finds the grant gone
        await visitor.close()
        [message] = await inbox.wait_for(1)
    assert sorted(message["To"].split(", ")) == ["ada@example.com", "ops@acme.example"]
    assert "Reconnect your calendar" in message["Subject"]
    assert "Connect it again here: http://127.0.0.1:" in text_of(message)
    assert text_of(message).rstrip().endswith("/-/console/agents/ada@example.com")  # the console's page for it


def test_without_a_plugin_serving_pages_links_fall_back_to_a_command_and_the_admin_api(
        tmp_path: Path, google: Any, inbox: Inbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from chinwag.app import Chinwag
    from chinwag.links import conversation_url
    from chinwag.notifications import CALENDAR_NEEDS_RECONNECT, Notification
    from chinwag.plugins import PluginHost

    folder = notified(project(tmp_path / "p", free_port(), [agent("ada@example.com")], google=google), inbox)
    monkeypatch.setenv("CHINWAG_DISABLE_PLUGINS", "chinwag-admin-console")
    app = Chinwag.from_project(folder, plugins=PluginHost())
    public = app.config.public_url
    assert asyncio.run(conversation_url(app, "s_1")) == f"{public}/-/admin/sessions/s_1.json"
    [notifier] = list(app.notifiers)
    message = notifier.message(Notification(CALENDAR_NEEDS_RECONNECT, "reconnect-ada", dt.datetime.now(dt.timezone.utc),
                                            "ada@example.com", {"agent_name": "Ada", "reason": "revoked",
                                                                "provider": "google", "connect_url": None}),
                               ["ada@example.com"])
    assert "Connect it again with: chinwag agents connect --provider google ada@example.com" in text_of(message)
    assert "<code>chinwag agents connect --provider google ada@example.com</code>" in html_of(message)


def test_notify_test_sends_now_and_bad_settings_are_named_with_their_lines(tmp_path: Path, google: Any,
                                                                         inbox: Inbox) -> None:
    folder = notified(project(tmp_path / "p", free_port(), [agent("ada@example.com")], google=google), inbox)
    sent = subprocess.run([CHINWAG, "notify", "test", "--project", str(folder), "--to", "me@acme.example"],
                          capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0 and "email: sent to me@acme.example" in sent.stdout, sent.stderr
    assert asyncio.run(inbox.wait_for(1))[0]["To"] == "me@acme.example"
    inbox.down()
    failed = subprocess.run([CHINWAG, "notify", "test", "--project", str(folder)], capture_output=True, text=True,
                            timeout=60)
    assert failed.returncode == 1 and "email: failed: RetryLater: SMTP" in failed.stderr

    config = yaml.safe_load((folder / "chinwag.yaml").read_text())
    config["notifications"]["send"] = {"meeting_bookd": ["agent"], "booking_failed": ["nobody"]}
    config["notifications"]["email"].pop("from")
    (folder / "chinwag.yaml").write_text(yaml.safe_dump(config))
    result = subprocess.run([CHINWAG, "validate", str(folder)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = (folder / "chinwag.yaml").read_text().splitlines()
    assert f"chinwag.yaml:{lines.index('    meeting_bookd:') + 1}: notifications.send.meeting_bookd: unknown" in result.stderr
    assert "notifications.send.booking_failed: must be a list of recipients" in result.stderr
    assert "notifications.email.from: is required" in result.stderr


def test_hostile_visitor_text_is_escaped_in_html_and_kept_out_of_headers(tmp_path: Path, google: Any,
                                                                        inbox: Inbox) -> None:
    from chinwag.app import Chinwag
    from chinwag.notifications import MEETING_BOOKED, Notification

    folder = notified(project(tmp_path / "p", free_port(), [agent("ada@example.com")], google=google), inbox)
    app = Chinwag.from_project(folder)
    [notifier] = list(app.notifiers)
    hostile = 'Eve <img src=x onerror="alert(1)"> & co\r\nBcc: victim@example.com'
    message = notifier.message(Notification(MEETING_BOOKED, "e_hostile", dt.datetime.now(dt.timezone.utc),
                                            "ada@example.com", {
        "visitor": {"name": hostile, "email": "eve@client.example"}, "answers": {"lead.note": "<b>hi</b>"},
        "meeting": {"start": "2026-12-04T15:00:00Z"}, "page_url": "https://site.example/?q=<script>",
        "dialogue": "Book", "transcript_url": "http://127.0.0.1/-/admin/sessions/s.json"}), ["ada@example.com"])
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"] and message["Bcc"] is None
    html = html_of(message)
    assert "<img" not in html and "&lt;img src=x" in html and "&lt;b&gt;hi&lt;/b&gt;" in html and "<script>" not in html
    assert hostile.split("\r")[0] in text_of(message)  # plain text stays as typed: it is not HTML

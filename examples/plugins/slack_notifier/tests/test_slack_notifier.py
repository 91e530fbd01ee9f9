"""The Slack notifier against a real loopback webhook receiver that fails, recovers and refuses:
notifications arrive once, escaped for Slack's markup, through chinwag's outbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from chinwag.testing import ServerThread, write_project

CHINWAG = str(Path(sys.executable).with_name("chinwag"))
DIALOGUE = {"id": "hi", "name": "Hi", "cards": [{"id": "bye", "type": "end", "text": "Hello!"}]}


class Receiver:
    """An incoming webhook on loopback: answers ``statuses`` in turn (then 200), keeps what it got."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the standard library's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.posts.append(body)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no_service")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    webhook = Receiver()
    yield webhook
    webhook.server.shutdown()


def project(path: Path, receiver: Receiver) -> Path:
    return write_project(path, {
        "name": "slack", "response_delay": 0, "plugins": {"slack_notifier": {"webhook_url": receiver.url}},
        "notifications": {"alerts_to": ["ops@acme.example"]},
        "outbox": {"base_delay": 0.05, "max_delay": 0.3, "poll_interval": 0.1, "max_attempts": 100}}, {"hi": DIALOGUE})


def queue(server: ServerThread, kind: str, data: dict[str, Any], agent: str | None = None) -> None:
    """Queue a notification as chinwag's own code does: in a transaction, through the outbox."""
    from chinwag.notifications import Notification
    from chinwag.notifications.delivery import enqueue_notification

    async def enqueue(app: Any) -> None:
        async with app.store.transaction() as connection:
            await enqueue_notification(connection, app, Notification(
                kind, f"{kind}-1", dt.datetime.now(dt.timezone.utc), agent, data))

    server.call(enqueue)


async def settled(server: ServerThread) -> dict[str, Any]:
    from chinwag.outbox import summary

    for _ in range(100):
        entry = server.call(lambda app: summary(app.store)).get("notify:slack", {})
        if entry.get("pending") == 0 and (entry.get("delivered") or entry.get("skipped")):
            return entry
        await asyncio.sleep(0.1)
    raise AssertionError("the notification was not settled")


async def test_a_webhook_down_then_back_gets_the_message_once_escaped(tmp_path: Path, receiver: Receiver) -> None:
    receiver.statuses = [503, 503]
    with ServerThread(project(tmp_path / "p", receiver), demo=False) as server:
        queue(server, "booking_failed", {"visitor": {"name": "<!channel> Eve & co", "email": "eve@client.example"},
                                         "reason": "calendar down"}, agent="ada@example.com")
        entry = await settled(server)
    assert entry["delivered"] == 1 and len(receiver.posts) == 1
    text = receiver.posts[0]["text"]
    assert text.startswith("*A booking failed*") and "&lt;!channel&gt; Eve &amp; co" in text and "<!channel>" not in text
    assert "For: ops@acme.example" in text and "Agent: ada@example.com" in text


async def test_a_refusing_webhook_is_skipped_with_its_reason(tmp_path: Path, receiver: Receiver) -> None:
    receiver.statuses = [404]
    with ServerThread(project(tmp_path / "p", receiver), demo=False) as server:
        queue(server, "outbox_dead", {"consumer": "marketo", "count": 3, "reason": "quota"})
        entry = await settled(server)
    assert entry["skipped"] == 1 and receiver.posts == []


def test_notify_test_posts_at_once_and_a_bad_url_is_named(tmp_path: Path, receiver: Receiver) -> None:
    folder = project(tmp_path / "p", receiver)
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CHINWAG_")}
    sent = subprocess.run([CHINWAG, "notify", "test", "--project", str(folder)], capture_output=True, text=True,
                          timeout=60, env=clean)
    assert sent.returncode == 0 and "slack: sent to ops@acme.example" in sent.stdout, sent.stderr
    assert receiver.posts[0]["text"].startswith("*Test message*")
    (folder / "chinwag.yaml").write_text((folder / "chinwag.yaml").read_text().replace(receiver.url, "not-a-url"))
    checked = subprocess.run([CHINWAG, "validate", str(folder)], capture_output=True, text=True, timeout=60, env=clean)
    assert checked.returncode == 1 and "plugins.slack_notifier.webhook_url: must be an http:// or https:// URL" in checked.stderr

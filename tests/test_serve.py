"""``chinwag serve`` for production: JSON logs, proxies trusted by address, several workers on one
port (PostgreSQL only) with their metrics added up and a rolling restart on SIGHUP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed

from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerProcess, free_port, write_project
from crm_support import crm_project, remote  # noqa: F401
from test_metrics import read, value
from test_rolling_restart import LOOP_DIALOGUE, QUESTIONS, stored

CHINWAG = str(Path(sys.executable).with_name("chinwag"))
TOKEN = "a-test-admin-token-0123456789"  # crm_project's
FIRST, DURING = 12, 30  # visitors before the rolling restart, and during it
STARTUP = 120  # seconds a supervisor and its workers may take to serve, on a busy machine


@contextlib.contextmanager
def serving(server: ServerProcess, timeout: float) -> Iterator[ServerProcess]:
    """``server`` started (waiting up to ``timeout`` seconds for it), stopped afterwards."""
    server.start(timeout)
    try:
        yield server
    finally:
        server.stop()


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    """``chinwag serve`` run to its end (for options it refuses)."""
    return subprocess.run([CHINWAG, "serve", *args], capture_output=True, text=True, timeout=120)


def log_entries(server: ServerProcess) -> list[dict[str, Any]]:
    """Every line the server wrote, each parsed as JSON (a line that is not fails the test)."""
    entries = []
    for line in server.log().splitlines():
        if line.strip():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"not a JSON line: {line!r}") from None
    return entries


async def test_json_logs_name_the_chat_and_never_hold_answers_tokens_or_query_strings(
        tmp_path: Path, remote: Any) -> None:
    remote.state.down = True  # the CRM lookup of the email fails: a warning written during the turn
    project = crm_project(tmp_path / "p", remote)
    with ServerProcess(project, log_path=tmp_path / "server.log", args=("--log-format", "json")) as server:
        async with ScriptedVisitor(server) as visitor:
            await visitor.run_through("Zebedee", "zebedee@example.com")
        httpx.get(f"{server.url}/-/oauth/google/callback", params={"code": "SECRET-CODE-42", "state": "SECRET-STATE-42"})
        httpx.get(f"{server.url}/-/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        # From a proxy on this machine (trusted by default): the client is the address it names.
        httpx.get(f"{server.url}/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
        await asyncio.sleep(0.5)
        entries = log_entries(server)
        text = server.log()
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    lookup = [entry for entry in entries if entry["logger"] == "chinwag.crm" and "could not look up" in entry["message"]]
    assert lookup and all(entry["level"] == "warning" for entry in lookup)
    assert {(entry["visitor"], entry["session"]) for entry in lookup} == {(visitor.visitor, visitor.session)}
    callback = [entry for entry in entries if entry.get("path", "").startswith("/-/oauth/")]
    assert callback == [{**callback[0], "path": "/-/oauth/google/callback", "method": "GET", "status": 400}]
    assert any(entry.get("path") == "/healthz" and entry["client"].startswith("203.0.113.9") for entry in entries)
    for secret in ("Zebedee", "zebedee@example.com", "SECRET-CODE-42", "SECRET-STATE-42", TOKEN):
        assert secret not in text, f"{secret!r} reached the log"


def test_serve_refuses_options_that_cannot_work(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"response_delay": 0}, copy_from=QUICKSTART)  # SQLite
    workers = serve(str(project), "--workers", "2")
    assert workers.returncode == 2 and "--workers 2 needs PostgreSQL" in workers.stderr
    proxies = serve(str(project), "--forwarded-allow-ips", "10.0.0.0/8,proxy.internal")
    assert proxies.returncode == 2 and "'proxy.internal' is not an IP address or network" in proxies.stderr
    metrics = serve(str(project), "--metrics-address", "9108")
    assert metrics.returncode == 2 and "--metrics-address must be HOST:PORT" in metrics.stderr


async def survey(port: int, number: int) -> list[int]:
    """One visitor through the loop dialogue on ``port``, reconnecting when a worker restarts;
    the close codes it was sent."""
    closes: list[int] = []
    visitor = ScriptedVisitor(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}")
    await visitor.connect(timeout=60)
    current = (await visitor.question(timeout=60))["id"]
    while current is not None:
        await asyncio.sleep(0.05)
        try:
            await visitor.answer("yes", current)
            frame = await visitor.until("question", "event", timeout=30)
            while frame["type"] == "event" and frame["name"] != "completed":
                frame = await visitor.until("question", "event", timeout=30)
            assert frame["type"] != "error", (number, frame)
            current = frame["id"] if frame["type"] == "question" else None
        except ConnectionClosed as closed:
            closes.append(closed.rcvd.code if closed.rcvd is not None else 0)
            visitor = ScriptedVisitor(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}",
                                      visitor=visitor.visitor, session=visitor.session)
            current = (await visitor.connect(timeout=60))["awaiting"]
    await visitor.close()
    return closes


async def test_workers_share_one_port_add_up_their_metrics_and_restart_one_at_a_time(
        tmp_path: Path, postgres_url: str) -> None:
    folder = write_project(tmp_path / "p", {"name": "workers", "database": postgres_url, "response_delay": 0,
                                            "admin_token": "workers-admin-token-0123456789"}, {"survey": LOOP_DIALOGUE})
    metrics_port = free_port()
    server = ServerProcess(folder, log_path=tmp_path / "server.log", args=(
        "--workers", "2", "--metrics-address", f"127.0.0.1:{metrics_port}", "--forwarded-allow-ips", "192.0.2.1"))
    with serving(server, STARTUP):  # a supervisor and two workers to start, on a machine that may be busy
        deadline = time.monotonic() + STARTUP
        while len(re.findall(r"Application startup complete", server.log())) < 2:  # both workers serve
            assert time.monotonic() < deadline, server.log()
            await asyncio.sleep(0.2)
        first = await asyncio.gather(*(survey(server.port, number) for number in range(FIRST)))
        assert all(closes == [] for closes in first)
        samples = read(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).text)
        assert value(samples, "chinwag_turns_total", frame="answer") == FIRST * len(QUESTIONS)  # both workers' turns
        assert value(samples, "chinwag_turns_total", frame="hello") == FIRST
        per_worker = read(httpx.get(f"{server.url}/-/metrics", timeout=30,
                                    headers={"Authorization": "Bearer workers-admin-token-0123456789"}).text)
        assert value(per_worker, "chinwag_turns_total", frame="answer") == FIRST * len(QUESTIONS)  # any worker tells all
        # A proxy the server was not told to trust cannot name the client.
        httpx.get(f"{server.url}/healthz", headers={"X-Forwarded-For": "203.0.113.9"})

        chats = asyncio.gather(*(survey(server.port, number) for number in range(FIRST, FIRST + DURING)))
        await asyncio.sleep(1)
        server.process.send_signal(signal.SIGHUP)  # a rolling restart of the workers, under load
        second = await asyncio.wait_for(chats, 180)
        deadline = time.monotonic() + 120
        while server.log().count("replaced by worker") < 2:
            assert time.monotonic() < deadline, server.log()
            await asyncio.sleep(0.2)
        assert {code for closes in second for code in closes} <= {1012}
        server.process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(server.process.wait, 90)
    log = server.log()
    assert exit_code == 0, log
    assert len(re.findall(r"Started server process \[\d+\]", log)) == 4  # two workers, then their two replacements
    assert "203.0.113.9" not in log and "died" not in log
    status, answers, _ = await stored(postgres_url)
    assert len(status) == FIRST + DURING and set(status.values()) == {"completed"}
    assert all(answered == QUESTIONS for answered in answers.values())  # none lost, none twice, across the restart

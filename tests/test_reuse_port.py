"""``chinwag serve --reuse-port``: several processes on one port, the kernel sharing the visitors
among them, and one visitor's conversation going on whichever process a connection reaches."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from chinwag.testing import ScriptedVisitor, ServerProcess, free_port, write_project

LOOP = {"id": "loop", "name": "Loop", "version": 1, "cards": [
    {"id": "q1", "type": "question", "text": "One?", "buttons": [{"label": "Yes", "value": "yes", "next": "q2"}]},
    {"id": "q2", "type": "question", "text": "Two?", "buttons": [{"label": "Yes", "value": "yes", "next": "q1"}]},
]}


def accepted(server: ServerProcess) -> int:
    """WebSocket connections the process accepted (uvicorn logs each one)."""
    return server.log().count('"WebSocket /ws" [accepted]')


def wait_started(server: ServerProcess, timeout: float = 30) -> None:
    """Wait for the process's own start: /healthz on a shared port may be answered by another."""
    deadline = time.monotonic() + timeout
    while "Application startup complete" not in server.log():
        assert time.monotonic() < deadline, f"not started:\n{server.log()}"
        assert server.process.poll() is None, f"exited:\n{server.log()}"
        time.sleep(0.1)


async def test_two_processes_share_one_port_and_every_conversation(tmp_path: Path, postgres_url: str) -> None:
    project = write_project(tmp_path / "p", {"name": "shared", "database": postgres_url, "response_delay": 0},
                            {"loop": LOOP})
    port = free_port()
    servers = [ServerProcess(project, port, log_path=tmp_path / f"server-{n}.log", args=("--reuse-port",))
               for n in range(2)]
    try:
        for server in servers:
            server.start()
            wait_started(server)
        # Without the option the port is taken: a third process refuses to start.
        alone = subprocess.run([str(Path(sys.executable).with_name("chinwag")), "serve", str(project), "--port",
                                str(port)], capture_output=True, text=True, timeout=60)
        assert alone.returncode != 0 and "address already in use" in (alone.stdout + alone.stderr).lower()
        visitors = []
        for _ in range(16):  # each on a new connection, so from a new source port
            visitor = ScriptedVisitor(servers[0])
            await visitor.connect()
            assert (await visitor.question())["card"] == "q1"
            await visitor.answer("yes")
            assert (await visitor.question())["card"] == "q2"
            await visitor.close()
            visitors.append(visitor)
        assert accepted(servers[0]) > 0 and accepted(servers[1]) > 0, "the kernel gave one process every visitor"
        # Each conversation goes on, whichever process the next connection reaches.
        for visitor in visitors:
            returning = ScriptedVisitor(servers[0], visitor=visitor.visitor, session=visitor.session)
            welcome = await returning.connect()
            assert welcome["session"] == visitor.session and welcome["awaiting"].startswith("q2:")
            await returning.close()
    finally:
        for server in servers:
            server.stop()

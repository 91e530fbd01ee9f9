"""Rolling restarts: a process told to stop (SIGTERM) finishes the turns in flight, sends their
replies, closes every chat socket with 1012 ("service restart"), settles its outbox delivery, and
exits; the visitors carry on on another process at the step they were at."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.exceptions import ConnectionClosed

from chinwag.outbox import outbox, outbox_consumers
from chinwag.tables import events, sessions, transcript
from chinwag.testing import ScriptedVisitor, ServerProcess, ServerThread, write_project
from crm_support import crm_project, remote  # noqa: F401

QUESTIONS = [f"q{n}" for n in range(1, 7)]
LOOP_DIALOGUE = {"id": "survey", "name": "Survey", "cards": [
    *({"id": card, "type": "question", "text": f"Question {card}?",
       "buttons": [{"label": "Yes", "value": "yes"}, {"label": "No", "value": "no"}]} for card in QUESTIONS),
    {"id": "bye", "type": "end", "text": "Thanks!"}]}
VISITORS = 200
HELLO_TIMEOUT = 60  # 200 hellos at once, on a shared 2-core machine, can take a while
STARTUP = 120  # seconds a server process may take to serve, on a busy machine
# A server stopped by SIGTERM ends on that signal, once its shutdown is done (uvicorn re-raises
# it), which systemd counts as a clean stop; 0 when it stopped by itself.
STOPPED = (0, -signal.SIGTERM)


class Survey:
    """One visitor answering every question, moving to another process when theirs restarts."""

    def __init__(self, number: int, servers: list[ServerProcess], survivor: ServerProcess) -> None:
        self.number, self.server, self.survivor = number, servers[number % 2], survivor
        self.closes: list[int | None] = []  # the close codes the visitor was sent
        self.resumed: list[tuple[str, str | None]] = []  # (question answered when closed, awaiting after)
        self.acknowledged: list[str] = []  # questions whose "answered" frame came back
        self.session: str | None = None

    async def run(self, answered: Counter[str], go: asyncio.Event) -> None:
        visitor = ScriptedVisitor(self.server)
        welcome = await visitor.connect(timeout=HELLO_TIMEOUT)
        self.session = welcome["session"]
        current: str | None = (await visitor.question(timeout=HELLO_TIMEOUT))["id"]
        await go.wait()  # every visitor is greeted before any answers
        while current is not None:
            await asyncio.sleep(random.uniform(0, 0.03))  # a visitor reads before clicking
            try:
                await visitor.answer("yes", current)
                current = await self._reply(visitor, current)
                answered["turns"] += 1
            except ConnectionClosed as closed:
                self.closes.append(closed.rcvd.code if closed.rcvd is not None else None)
                visitor = ScriptedVisitor(self.survivor, visitor=visitor.visitor, session=self.session)
                welcome = await visitor.connect(timeout=HELLO_TIMEOUT)
                assert welcome["session"] == self.session, welcome
                self.resumed.append((current, welcome["awaiting"]))
                current = welcome["awaiting"]
        await visitor.close()

    async def _reply(self, visitor: ScriptedVisitor, question: str) -> str | None:
        """Read the answer's frames: the next question's id, or None once the dialogue completed."""
        while True:
            frame = await visitor.receive(timeout=30)
            if frame["type"] == "error":
                raise AssertionError(f"visitor {self.number}: {frame}")
            if frame["type"] == "answered":
                assert frame["question"] == question, frame
                self.acknowledged.append(question)
            elif frame["type"] == "question":
                return str(frame["id"])
            elif frame["type"] == "event" and frame["name"] == "completed":
                return None


def card(question: str | None) -> str | None:
    """The card of a question id (``q3:3``: the card, then the step it was asked at)."""
    return question.split(":")[0] if question is not None else None


async def stored(url: str) -> tuple[dict[str, str], dict[str, list[str]], dict[str, Counter[str]]]:
    """Each session's status, the questions its transcript says were answered (in order), and its events."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            status = {row.id: row.status for row in await connection.execute(sa.select(sessions.c.id, sessions.c.status))}
            answers: dict[str, list[str]] = defaultdict(list)
            for session, frame in await connection.execute(
                    sa.select(transcript.c.session_id, transcript.c.frame).order_by(transcript.c.id)):
                if frame["type"] == "answered":
                    answers[session].append(card(frame["question"]))
            named: dict[str, Counter[str]] = defaultdict(Counter)
            for session, name in await connection.execute(sa.select(events.c.session_id, events.c.name)):
                named[session][name] += 1
    finally:
        await engine.dispose()
    return status, answers, named


async def test_restarting_one_of_two_processes_under_200_visitors_loses_and_doubles_no_turn(
        tmp_path: Path, postgres_url: str) -> None:
    folder = write_project(tmp_path / "p", {"name": "restart", "database": postgres_url, "response_delay": 0},
                           {"survey": LOOP_DIALOGUE})
    restarted = ServerProcess(folder, log_path=tmp_path / "a.log")
    survivor = ServerProcess(folder, log_path=tmp_path / "b.log")
    try:
        await asyncio.to_thread(restarted.start, STARTUP)  # one after the other: the first one creates the tables
        await asyncio.to_thread(survivor.start, STARTUP)
        surveys = [Survey(number, [restarted, survivor], survivor) for number in range(VISITORS)]
        answered: Counter[str] = Counter()
        go = asyncio.Event()
        chats = asyncio.gather(*(survey.run(answered, go) for survey in surveys))
        started = time.monotonic()
        while not all(survey.session for survey in surveys) and time.monotonic() - started < 120:
            await asyncio.sleep(0.05)
        go.set()
        while answered["turns"] < VISITORS and time.monotonic() - started < 180:  # about one turn each, then
            await asyncio.sleep(0.02)
        restarted.process.send_signal(signal.SIGTERM)  # ... the restart, while the chats go on
        await asyncio.wait_for(chats, 120)
        exit_code = await asyncio.to_thread(restarted.process.wait, 30)
    finally:
        restarted.stop()
        survivor.stop()

    assert exit_code in STOPPED, restarted.log()
    on_restarted = [survey for survey in surveys if survey.number % 2 == 0 and survey.closes]
    assert len(on_restarted) >= VISITORS // 4, "the restart came after most visitors had finished"
    codes = Counter(code for survey in surveys for code in survey.closes)
    assert set(codes) == {1012}, f"close codes: {codes}"  # never a dropped connection (1006) or an error (1011)
    assert all(survey.number % 2 == 0 for survey in surveys if survey.closes)  # the survivor closed nobody
    assert "closed with 1012 (service restart)" in restarted.log()
    for survey in on_restarted:  # each resumed where it was: the question it had answered or the next one
        for answering, awaiting in survey.resumed:
            position = QUESTIONS.index(card(answering))
            assert card(awaiting) in (card(answering), QUESTIONS[position + 1] if position + 1 < len(QUESTIONS) else None), \
                (survey.number, survey.resumed)

    status, answers, named = await stored(postgres_url)
    assert len(status) == VISITORS and set(status.values()) == {"completed"}
    for survey in surveys:
        # No turn lost, none doubled: each question answered exactly once, in order, on whichever process.
        assert answers[survey.session] == QUESTIONS, (survey.number, answers[survey.session])  # type: ignore[index]
        assert named[survey.session]["answered"] == len(QUESTIONS)  # type: ignore[index]
        assert named[survey.session]["completed"] == 1  # type: ignore[index]
        assert len(survey.acknowledged) == len(set(survey.acknowledged))  # no answer acknowledged twice
    print(f"\n{VISITORS} visitors, {len(on_restarted)} moved from the restarted process "
          f"({sum(len(s.resumed) for s in on_restarted)} reconnections), close codes {dict(codes)}")


async def test_a_turn_in_flight_at_sigterm_is_answered_before_the_1012_close_and_its_delivery_settled(
        tmp_path: Path, remote: Any) -> None:
    project = crm_project(tmp_path / "p", remote, outbox={"linger": 0, "lease_seconds": 10})
    with ServerProcess(project, log_path=tmp_path / "server.log") as server:
        visitor = ScriptedVisitor(server)
        await visitor.connect()
        await visitor.question()
        await visitor.answer("Ada")
        await visitor.question()
        remote.state.delay = 1.5  # the CRM's lookup of the email, and its deliveries, take 1.5 s each
        await visitor.answer("ada@example.com")
        await asyncio.sleep(0.5)  # the turn is now waiting on the CRM
        server.process.send_signal(signal.SIGTERM)
        frames = []
        try:
            while True:
                frames.append(await visitor.receive(timeout=30))
        except ConnectionClosed as closed:
            close = closed.rcvd
        exit_code = await asyncio.to_thread(server.process.wait, 30)
    assert exit_code in STOPPED, server.log()
    assert close is not None and close.code == 1012 and close.reason == "service restart"
    kinds = [frame["type"] for frame in frames]
    assert "answered" in kinds, frames  # the turn's reply came, then the close
    assert any(frame["type"] == "event" and frame["name"] == "completed" for frame in frames), frames
    assert any(frame.get("text", "").startswith("Welcome, friend") for frame in frames)

    engine = create_async_engine(f"sqlite+aiosqlite:///{project / 'chinwag.db'}")
    try:
        async with engine.connect() as connection:
            leases = (await connection.execute(sa.select(outbox_consumers.c.lease_owner))).scalars().all()
            rows = (await connection.execute(sa.select(outbox.c.key, outbox.c.state, outbox.c.attempts))).all()
    finally:
        await engine.dispose()
    assert leases and all(owner is None for owner in leases)  # no lease left for the next process to wait out
    # What was being delivered at the stop was delivered and recorded, not abandoned half-sent.
    assert all(row.attempts == 1 for row in rows if row.state == "delivered")
    assert all(count == 1 for count in remote.state.sent.values())
    assert all(row.state in ("pending", "delivered") for row in rows)


async def test_a_draining_process_closes_idle_chats_with_1012_and_says_so_at_healthz(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"name": "drain", "response_delay": 0}, {"survey": LOOP_DIALOGUE})
    with ServerThread(project, demo=False) as server:
        visitors = [ScriptedVisitor(server) for _ in range(3)]
        for visitor in visitors:
            await visitor.connect()
            await visitor.question()
        connections = server.asgi.state.connections
        assert len(connections) == 3
        left = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(connections.drain(5), server._loop))
        assert left == 0 and len(connections) == 0
        for visitor in visitors:
            assert await close_code(visitor) == 1012
        health = httpx.get(f"{server.url}/healthz")
        assert health.status_code == 503 and health.json() == {"status": "draining"}
        late = ScriptedVisitor(server)  # one that still gets through while the process stops
        await late.open()
        assert await close_code(late) == 1012


async def close_code(visitor: ScriptedVisitor) -> int | None:
    """Read the visitor's frames until the server closes the socket; the close code."""
    try:
        while True:
            await visitor.receive(timeout=5)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None

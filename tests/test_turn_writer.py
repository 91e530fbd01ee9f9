"""Group commit: turns stored together, each with its own revision check, none lost."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from chinwag.store import Store, utcnow
from chinwag.tables import metadata, sessions, transcript, visitor_visits, visitors
from chinwag.turn_writer import SessionConflict, TurnRecord, TurnWriter, VisitRecord


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    opened = Store(url, metadata)
    await opened.create_schema()
    yield opened
    await opened.close()


async def add_visitor(store: Store, visitor_id: str) -> None:
    async with store.transaction() as connection:
        await connection.execute(sa.insert(visitors).values(id=visitor_id, created_at=utcnow(), last_seen_at=utcnow(), lead={}))


def first_turn(session_id: str, visitor_id: str) -> TurnRecord:
    now = utcnow()
    return TurnRecord(session_id, visitor_id, 0, {"step": 1}, "active", now, new_session={
        "id": session_id, "visitor_id": visitor_id, "dialogue_id": "d", "dialogue_version": 1, "status": "active",
        "state": {"step": 1}, "revision": 1, "page_url": None, "created_at": now, "updated_at": now},
        transcript=({"session_id": session_id, "frame": {"type": "question", "id": "q:1"}, "created_at": now},))


def next_turn(session_id: str, visitor_id: str, revision: int, lead: dict[str, Any] | None = None) -> TurnRecord:
    now = utcnow()
    return TurnRecord(session_id, visitor_id, revision, {"step": revision + 1}, "active", now, lead=lead,
                      transcript=({"session_id": session_id, "frame": {"type": "answered", "rev": revision}, "created_at": now},))


async def test_concurrent_turns_are_all_stored_in_few_transactions(store: Store) -> None:
    writer = TurnWriter(store)
    commits = 0
    original = writer._commit

    async def counting(records: list[TurnRecord]) -> set[int]:
        nonlocal commits
        commits += 1
        return await original(records)

    writer._commit = counting  # type: ignore[method-assign]
    await add_visitor(store, "v")
    await asyncio.gather(*(writer.write(first_turn(f"s{i}", "v")) for i in range(100)))
    await asyncio.gather(*(writer.write(next_turn(f"s{i}", "v", 1, lead={"lead.n": i})) for i in range(100)))
    async with store.connect() as connection:
        revisions = (await connection.execute(sa.select(sessions.c.revision))).scalars().all()
        frames = (await connection.execute(sa.select(sa.func.count()).select_from(transcript))).scalar()
    assert revisions == [2] * 100 and frames == 200
    assert commits <= 10, f"{commits} transactions for 200 turns: not batched"


async def test_a_conflicting_turn_fails_alone_and_writes_nothing(store: Store) -> None:
    writer = TurnWriter(store)
    await add_visitor(store, "v")
    await writer.write(first_turn("a", "v"))
    await writer.write(first_turn("b", "v"))
    results = await asyncio.gather(writer.write(next_turn("a", "v", 1)), writer.write(next_turn("a", "v", 1)),
                                   writer.write(next_turn("b", "v", 1)), return_exceptions=True)
    assert [type(result) for result in results] == [type(None), SessionConflict, type(None)]
    async with store.connect() as connection:
        answered = (await connection.execute(sa.select(sa.func.count()).select_from(transcript).where(
            transcript.c.session_id == "a"))).scalar()
    assert answered == 2  # the first turn's question and one answer, not two


async def test_a_bad_turn_does_not_sink_its_batch(store: Store) -> None:
    writer = TurnWriter(store)
    await add_visitor(store, "v")
    results = await asyncio.gather(writer.write(first_turn("good-1", "v")),
                                   writer.write(first_turn("orphan", "no-such-visitor")),
                                   writer.write(first_turn("good-2", "v")), return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], sa.exc.IntegrityError)
    async with store.connect() as connection:
        stored = set((await connection.execute(sa.select(sessions.c.id))).scalars())
    assert stored == {"good-1", "good-2"}


async def test_new_visitors_are_stored_with_the_turns_that_start_their_dialogues(store: Store) -> None:
    writer = TurnWriter(store)
    commits = 0
    original = writer._commit

    async def counting(records: list[Any]) -> set[int]:
        nonlocal commits
        commits += 1
        return await original(records)

    writer._commit = counting  # type: ignore[method-assign]
    now = utcnow()
    page_loads = [VisitRecord(f"v{i}", now, {"lead.n": i}) for i in range(100)]
    # Half start a dialogue (the visitor's rows go with that turn), half only say hello.
    await asyncio.gather(*(writer.write(attrs.evolve(first_turn(f"s{i}", f"v{i}"), visit=visit) if i % 2 else visit)
                           for i, visit in enumerate(page_loads)))
    async with store.connect() as connection:
        leads = dict((await connection.execute(sa.select(visitors.c.id, visitors.c.lead))).all())
        counted = dict((await connection.execute(sa.select(visitor_visits.c.visitor_id, visitor_visits.c.visits))).all())
        started = (await connection.execute(sa.select(sa.func.count()).select_from(sessions))).scalar()
    assert leads == {f"v{i}": {"lead.n": i} for i in range(100)} and counted == {f"v{i}": 1 for i in range(100)}
    assert started == 50
    assert commits <= 10, f"{commits} transactions for 100 page loads: not batched"


async def test_two_tabs_that_begin_the_same_visit_count_it_once(store: Store) -> None:
    writer = TurnWriter(store)
    await writer.write(VisitRecord("v", utcnow(), {}))
    second = VisitRecord("v", utcnow(), None, visits=2, new_visit=True)
    await asyncio.gather(writer.write(second), writer.write(second))
    await writer.write(VisitRecord("v", utcnow(), None, visits=2, new_visit=False))  # a page of the same visit
    async with store.connect() as connection:
        assert (await connection.execute(sa.select(visitor_visits.c.visits))).scalar_one() == 2
    await writer.write(VisitRecord("v", utcnow(), None, visits=3, new_visit=True))
    async with store.connect() as connection:
        assert (await connection.execute(sa.select(visitor_visits.c.visits))).scalar_one() == 3

"""Group commit: every turn waiting to be stored goes into the database in one transaction.

One transaction per turn makes concurrent visitors queue for the database (SQLite has a single
writer; every commit costs a round trip either way). The writer takes all turns that arrived
while the previous transaction ran, stores them together, and releases each turn's reply only
after the commit. Each turn keeps its own revision check: a turn whose session changed elsewhere
fails alone with ``SessionConflict`` and writes nothing.

A turn's outbox rows (work for remote systems, ``chinwag.outbox``) are written in the same
transaction as the turn: a committed turn always has its outbox rows, a failed one has none.

A page load's rows about its visitor (``VisitRecord``: a new visitor, when a known one was last
seen, their visit count) go the same way, with the turn that starts the page's dialogue or alone,
so a flood of new visitors is stored in a few transactions instead of queueing for SQLite's
write lock one ``hello`` at a time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .bulk_rows import BulkStatement, SelectByKeys
from .outbox import enqueue_sync, release_held_sync
from .store import Store
from .tables import events, sessions, transcript, visitor_visits, visitors

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger("chinwag.turn_writer")

MAX_BATCH = 256


class SessionConflict(Exception):
    """The session changed in the database since this connection loaded it."""


@attrs.frozen
class VisitRecord:
    """The rows one page load (a ``hello``) writes about its visitor.

    A new visitor (``lead`` given) is inserted with its first visit; a known one gets its
    ``last_seen_at``, and when this page load begins visit number ``visits``
    (``chinwag.targeting.visit.visit_of``), that count. The count moves from ``visits - 1`` only,
    so two tabs that begin the same visit at once count it once.
    """

    visitor_id: str
    now: dt.datetime
    lead: dict[str, Any] | None = None  # a new visitor's lead; None for a known visitor
    visits: int = 1
    new_visit: bool = True  # whether this page load begins visit number ``visits``


@attrs.frozen
class TurnRecord:
    """The rows one turn writes."""

    session_id: str
    visitor_id: str
    revision: int  # the revision the turn was played on; 0 for a new session
    state: dict[str, Any]
    status: str
    now: dt.datetime
    new_session: dict[str, Any] | None = None  # the full row, for a session's first turn
    transcript: tuple[dict[str, Any], ...] = ()
    events: tuple[dict[str, Any], ...] = ()
    lead: dict[str, Any] | None = None  # the visitor's whole lead, when the turn changed it
    outbox: tuple[dict[str, Any], ...] = ()  # rows for ``chinwag.outbox.outbox``
    # Consumers whose held rows of this visitor the turn releases, with what their payloads lacked
    # (a CRM's activities of a visitor who has just given an email: ``chinwag.crm_delivery``).
    release: tuple[tuple[str, dict[str, Any]], ...] = ()
    visit: VisitRecord | None = None  # the page load's rows, for the turn that starts its dialogue


_UPDATE_SESSION = BulkStatement(sessions.update().where(
    sessions.c.id == sa.bindparam("b_id"), sessions.c.revision == sa.bindparam("b_revision"),
).values(state=sa.bindparam("b_state"), status=sa.bindparam("b_status"),
         revision=sa.bindparam("b_new_revision"), updated_at=sa.bindparam("b_now")))
_SESSION_REVISIONS = SelectByKeys([sessions.c.id, sessions.c.revision], sessions.c.id, for_update=True)
_INSERT_SESSIONS = BulkStatement(sa.insert(sessions))
_INSERT_TRANSCRIPT = BulkStatement(sa.insert(transcript))
_INSERT_EVENTS = BulkStatement(sa.insert(events))
_INSERT_VISITORS = BulkStatement(sa.insert(visitors))
_UPDATE_LEAD = visitors.update().where(visitors.c.id == sa.bindparam("b_id")).values(lead=sa.bindparam("b_lead"))
_UPDATE_LAST_SEEN = BulkStatement(visitors.update().where(visitors.c.id == sa.bindparam("b_id")).values(
    last_seen_at=sa.bindparam("b_now")))
_NEXT_VISIT = visitor_visits.update().where(
    visitor_visits.c.visitor_id == sa.bindparam("b_id"), visitor_visits.c.visits == sa.bindparam("b_previous"),
).values(visits=sa.bindparam("b_visits"), started_at=sa.bindparam("b_now"))


class BatchRaced(Exception):
    """A session's revision changed between reading and writing it (another process)."""


def _write_visits(connection: sa.Connection, visits: list[VisitRecord]) -> None:
    """Store page loads' visitor rows: new visitors, last seen times, visit counts."""
    new = [visit for visit in visits if visit.lead is not None]
    if new:
        _INSERT_VISITORS.execute(connection, [{"id": visit.visitor_id, "created_at": visit.now,
                                               "last_seen_at": visit.now, "lead": visit.lead} for visit in new])
    known = [visit for visit in visits if visit.lead is None]
    if known:
        _UPDATE_LAST_SEEN.execute(connection, [{"b_id": visit.visitor_id, "b_now": visit.now} for visit in known])
    first = [{"visitor_id": visit.visitor_id, "visits": 1, "started_at": visit.now}
             for visit in visits if visit.new_visit and visit.visits == 1]
    if first:  # a known visitor's other tab may have counted it first: that count stands
        insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(visitor_visits)
        connection.execute(insert.on_conflict_do_nothing(index_elements=["visitor_id"]), first)
    later = [{"b_id": visit.visitor_id, "b_previous": visit.visits - 1, "b_visits": visit.visits, "b_now": visit.now}
             for visit in visits if visit.new_visit and visit.visits > 1]
    if later:
        connection.execute(_NEXT_VISIT, later)


def _write_batch(connection: sa.Connection, records: list[TurnRecord | VisitRecord]) -> set[int]:
    """Write every record with a handful of statements; return the indexes whose revision check failed.

    Page loads' visitor rows come first (a new session refers to its visitor). The revisions of
    all sessions in the batch are read (and locked, on PostgreSQL) at once, conflicts are decided
    here, and the rest is written with one ``executemany`` per table.
    """
    conflicts: set[int] = set()
    turns = [(index, record) for index, record in enumerate(records) if isinstance(record, TurnRecord)]
    updated = [record for _, record in turns if record.new_session is None]
    revisions: dict[str, int] = {}
    if updated:
        revisions = dict(_SESSION_REVISIONS.rows(connection, {record.session_id for record in updated}))
    session_updates, kept = [], []
    for index, record in turns:
        if record.new_session is None:
            if revisions.get(record.session_id) != record.revision:
                conflicts.add(index)  # e.g. two tabs answered the same question: the first wins
                continue
            revisions[record.session_id] = record.revision + 1
            session_updates.append({"b_id": record.session_id, "b_revision": record.revision, "b_state": record.state,
                                    "b_status": record.status, "b_new_revision": record.revision + 1, "b_now": record.now})
        kept.append(record)
    visits = [record for record in records if isinstance(record, VisitRecord)]
    visits += [record.visit for record in kept if record.visit is not None]
    if visits:
        _write_visits(connection, visits)
    new_sessions = [record.new_session for record in kept if record.new_session is not None]
    if new_sessions:
        _INSERT_SESSIONS.execute(connection, new_sessions)
    if session_updates:
        # PostgreSQL holds the rows read FOR UPDATE; on SQLite a writer from another process makes
        # this statement fail (the read snapshot is stale). Where the driver counts rows of an
        # executemany, the count is checked as well.
        result = _UPDATE_SESSION.execute(connection, session_updates)
        if connection.dialect.supports_sane_multi_rowcount and result.rowcount != len(session_updates):
            raise BatchRaced("a session changed while its batch was written")
    leads = [{"b_id": record.visitor_id, "b_lead": record.lead} for record in kept if record.lead is not None]
    if leads:
        connection.execute(_UPDATE_LEAD, leads)
    transcript_rows = [row for record in kept for row in record.transcript]
    if transcript_rows:
        _INSERT_TRANSCRIPT.execute(connection, transcript_rows)
    event_rows = [row for record in kept for row in record.events]
    if event_rows:
        _INSERT_EVENTS.execute(connection, event_rows)
    outbox_rows = [row for record in kept for row in record.outbox]
    if outbox_rows:
        enqueue_sync(connection, outbox_rows)
    for record in kept:
        for consumer, payload_update in record.release:
            release_held_sync(connection, consumer, record.visitor_id, payload_update, record.now)
    return conflicts


class TurnWriter:
    """Stores turns (and page loads' visitor rows) in batches; ``await write(record)`` returns
    once the record is committed."""

    def __init__(self, store: Store, max_batch: int = MAX_BATCH, on_commit: Callable[[], None] | None = None,
                 metrics: Metrics | None = None) -> None:
        self.store = store
        self.max_batch = max_batch
        self.on_commit = on_commit  # told after a commit that wrote outbox rows (wakes the delivery worker)
        self.metrics = metrics  # told each batch's size
        self._pending: list[tuple[TurnRecord | VisitRecord, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def write(self, record: TurnRecord | VisitRecord) -> None:
        """Store one turn or page load; raise ``SessionConflict`` if a turn's session changed meanwhile."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())
        await future

    async def _drain(self) -> None:
        # Turns that arrive while a batch commits wait here and form the next batch.
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
            try:
                conflicts = await self._commit([record for record, _ in batch])
            except Exception:
                log.warning("a batch of %d turns failed; storing them one by one", len(batch), exc_info=True)
                await self._one_by_one(batch)
                continue
            for index, (_, future) in enumerate(batch):
                _settle(future, SessionConflict() if index in conflicts else None)

    async def _commit(self, records: list[TurnRecord | VisitRecord]) -> set[int]:
        conflicts = await self.store.in_transaction(_write_batch, records)
        if self.on_commit is not None and any(isinstance(record, TurnRecord) and (record.outbox or record.release)
                                              for record in records):
            self.on_commit()
        if self.metrics is not None:  # page loads stored alone are not turns
            self.metrics.batch_committed(sum(isinstance(record, TurnRecord) for record in records), len(conflicts))
        return conflicts

    async def _one_by_one(self, batch: list[tuple[TurnRecord | VisitRecord, asyncio.Future[None]]]) -> None:
        """After a failed batch: each turn in its own transaction, so only a bad one fails."""
        for record, future in batch:
            try:
                conflicts = await self._commit([record])
            except Exception as error:
                _settle(future, error)
            else:
                _settle(future, SessionConflict() if conflicts else None)

    async def close(self) -> None:
        """Wait until every pending turn is stored."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the visitor's connection went away and the waiter was cancelled
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)

"""The durable outbox: outbound work for remote systems, stored with the chat turn that caused it.

A CRM connector, a webhook or any plugin that asks for delivery gets its work as rows of the
``outbox`` table, written in the same transaction as the turn (``enqueue_sync`` inside the turn
writer), so a committed turn never loses its deliveries and a rolled-back one sends nothing.
``chinwag.outbox_worker`` delivers them. This module holds what both sides share:

* the tables, on their own ``outbox_metadata`` (the app copies them with ``Table.to_metadata``);
* ``outbox_row`` and ``enqueue``/``enqueue_sync``: a duplicate (consumer, key) is skipped, never
  an error, so the same event is queued at most once per consumer (``insert_ignoring_duplicates``);
* what a consumer deals in: ``OutboxItem``, the ``OutboxConsumer`` protocol, the ``Skipped``
  outcome and the ``PauseDelivery`` and ``RetryLater`` exceptions;
* the operator's queries: ``list_items``, ``requeue``, ``summary`` and ``resume``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from .store import Store, utc, utcnow

PENDING, DELIVERED, SKIPPED, DEAD = "pending", "delivered", "skipped", "dead"
# Waiting for something the turn did not have yet (a CRM activity of a visitor with no email yet):
# never claimed; a later turn releases it to pending (``release_held_sync``).
HELD = "held"
# The kind of an item asking a remote system to delete a person (``chinwag.forget``): its payload
# (the email) is cleared once delivered.
FORGET_KIND = "forget"
STATES = (PENDING, HELD, DELIVERED, SKIPPED, DEAD)

outbox_metadata = sa.MetaData()

# Times are stored as UTC; ``chinwag.store.utc`` re-attaches the zone SQLite drops.
outbox = sa.Table(
    "outbox",
    outbox_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # delivery order
    sa.Column("consumer", sa.String(200), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),  # idempotency key: the event's id
    sa.Column("ordering_key", sa.String(200), nullable=True),  # e.g. the lead: its items keep their order
    sa.Column("kind", sa.String(60), nullable=False),  # the event type
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("state", sa.String(10), nullable=False),  # pending | held | delivered | skipped | dead
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),  # why skipped or dead, or the last transient error
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("consumer", "key", name="uq_outbox_consumer_key"),
    # Each consumer's oldest pending items. Partial: delivered rows, the great majority, stay out of
    # it, so settling a batch removes index entries instead of moving them.
    sa.Index("ix_outbox_pending", "consumer", "id", sqlite_where=sa.text("state = 'pending'"),
             postgresql_where=sa.text("state = 'pending'")),
)

# ``state = 'pending'`` written as a literal, so the planner can use the partial index above
# (SQLite cannot match a bound parameter against an index's WHERE clause).
IS_PENDING = outbox.c.state == sa.literal_column("'pending'")

# One row per consumer: who delivers it now (the lease) and why it waits (backoff or pause).
outbox_consumers = sa.Table(
    "outbox_consumers",
    outbox_metadata,
    sa.Column("consumer", sa.String(200), primary_key=True),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("failures", sa.Integer, nullable=False),  # consecutive failed batches, for the backoff
    sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("pause_reason", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


# -- writing ---------------------------------------------------------------------------------------

def outbox_row(consumer: str, key: str, kind: str, payload: Mapping[str, Any], ordering_key: str | None,
               now: dt.datetime, held: bool = False) -> dict[str, Any]:
    """The values of one pending row (``held``: a held one) for ``enqueue``; ``key`` is the event's
    id (the idempotency key)."""
    _check_name("consumer", consumer, 200)
    _check_name("key", key, 200)
    _check_name("kind", kind, 60)
    if ordering_key is not None:
        _check_name("ordering_key", ordering_key, 200)
    if not isinstance(payload, Mapping):
        raise ValueError(f"an outbox payload is a mapping, not {type(payload).__name__}")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return {"consumer": consumer, "key": key, "ordering_key": ordering_key, "kind": kind, "payload": dict(payload),
            "state": HELD if held else PENDING, "attempts": 0, "last_error": None, "created_at": utc(now), "updated_at": utc(now),
            "delivered_at": None}


def insert_ignoring_duplicates(connection: AsyncConnection | sa.Connection, table: sa.Table,
                               *unique: str) -> sa.Insert:
    """An INSERT into ``table`` that skips rows whose ``unique`` columns are taken (ON CONFLICT DO NOTHING).

    Skipping keeps the caller's transaction alive, where a unique violation would abort it on PostgreSQL.
    """
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=list(unique))


async def enqueue(connection: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queue ``rows`` (from ``outbox_row``) in the caller's transaction; a (consumer, key) already queued is skipped."""
    if rows:
        await connection.execute(insert_ignoring_duplicates(connection, outbox, "consumer", "key"), list(rows))


def enqueue_sync(connection: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """``enqueue`` for synchronous code, such as the turn writer inside ``run_sync``."""
    if rows:
        connection.execute(insert_ignoring_duplicates(connection, outbox, "consumer", "key"), list(rows))


def release_held_sync(connection: sa.Connection, consumer: str, ordering_key: str,
                      payload_update: Mapping[str, Any], now: dt.datetime) -> int:
    """Make ``consumer``'s held rows of ``ordering_key`` pending, their payloads updated with
    ``payload_update`` (what they lacked when they were held), in the caller's transaction; return
    how many. They keep their ids, so they go out before anything queued after them."""
    held = connection.execute(sa.select(outbox.c.id, outbox.c.payload).where(
        outbox.c.consumer == consumer, outbox.c.ordering_key == ordering_key, outbox.c.state == HELD)).all()
    for row in held:
        connection.execute(outbox.update().where(outbox.c.id == row.id, outbox.c.state == HELD).values(
            state=PENDING, payload={**row.payload, **payload_update}, updated_at=utc(now)))
    return len(held)


# -- what a consumer deals in ----------------------------------------------------------------------

@attrs.frozen
class OutboxItem:
    """One queued delivery, as a consumer and the operator see it."""

    id: int
    consumer: str
    key: str
    kind: str
    payload: dict[str, Any]
    ordering_key: str | None
    attempts: int
    state: str
    last_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> OutboxItem:
        """The item of an ``outbox`` row, its times made aware."""
        return cls(row.id, row.consumer, row.key, row.kind, row.payload, row.ordering_key, row.attempts, row.state,
                   row.last_error, utc(row.created_at), utc(row.updated_at))  # type: ignore[arg-type]

    def listing(self) -> dict[str, Any]:
        """What the operator sees of the item (``chinwag outbox --json``, ``/-/admin/outbox.json``):
        everything but the payload, times as ISO strings."""
        return {"id": self.id, "consumer": self.consumer, "key": self.key, "kind": self.kind, "state": self.state,
                "attempts": self.attempts, "last_error": self.last_error, "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}


@attrs.frozen
class Skipped:
    """The remote refused this record for good: it is settled as ``skipped`` with ``reason``, never retried."""

    reason: str


class PauseDelivery(Exception):
    """Raised by ``deliver``: send nothing to this consumer until ``until`` (e.g. a daily quota is spent).

    The batch's attempts are not counted: the remote never looked at the records.
    """

    def __init__(self, until: dt.datetime, reason: str) -> None:
        if until.tzinfo is None:
            raise ValueError("PauseDelivery needs an aware datetime")
        super().__init__(f"paused until {until.isoformat()}: {reason}")
        self.until = until.astimezone(dt.UTC)
        self.reason = reason


class RetryLater(Exception):
    """Raised by ``deliver``: a transient failure (remote down, rate limited); the batch is tried again.

    ``after`` (seconds, e.g. the remote's Retry-After) replaces the computed backoff.
    """

    def __init__(self, reason: str, after: float | None = None) -> None:
        if after is not None and after < 0:
            raise ValueError("RetryLater.after cannot be negative")
        super().__init__(reason)
        self.reason = reason
        self.after = after


class OutboxConsumer(Protocol):
    """Delivers one consumer's items: a CRM connector, a webhook...

    ``deliver`` gets up to ``batch_size`` items, oldest first, and must send them in that order (that
    keeps each ordering key's order). It returns None when all were delivered, or the items the remote
    refused for good as ``{item.id: Skipped(reason)}`` (the others count as delivered). It raises
    ``RetryLater`` (or any exception) for a transient failure of the whole batch and ``PauseDelivery``
    to stop until a given time. The same item may be sent again after a crash or a timeout: the remote
    must de-duplicate on ``item.key``.

    A consumer may also have ``batch_wait`` (seconds, default 0): how long its oldest pending item
    may wait for a batch to fill before a short batch goes out anyway. A remote that counts calls
    (Marketo: 100 per 20 s) is served by fewer, fuller batches.
    """

    name: str
    batch_size: int

    async def deliver(self, items: Sequence[OutboxItem]) -> Mapping[int, Skipped] | None:
        """Send ``items`` to the remote (see the class)."""
        ...


# -- the operator's queries ------------------------------------------------------------------------

async def list_items(store: Store, consumer: str | None = None, state: str | None = None,
                     limit: int = 100) -> list[OutboxItem]:
    """Up to ``limit`` items, newest first, of one consumer and/or one state."""
    if consumer is not None:
        _check_name("consumer", consumer, 200)
    if state is not None:
        _check_state(state)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive whole number, not {limit!r}")
    query = sa.select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if consumer is not None:
        query = query.where(outbox.c.consumer == consumer)
    if state is not None:
        query = query.where(outbox.c.state == state)
    async with store.connect() as connection:
        return [OutboxItem.from_row(row) for row in await connection.execute(query)]


async def requeue(store: Store, ids: Sequence[int] = (), dead: bool = False, consumer: str | None = None) -> int:
    """Put dead or skipped items back to pending with no attempts: those of ``ids``, or every dead one.

    ``consumer`` narrows either choice. Items in another state are left alone and not counted. The
    consumers concerned leave their backoff, so the items go out at the next poll. Returns how many
    items were requeued.
    """
    if isinstance(ids, (str, bytes)) or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise ValueError(f"ids must be whole numbers (item ids), not {ids!r}")
    if bool(ids) == bool(dead):
        raise ValueError("requeue takes item ids or dead=True, one of the two")
    if consumer is not None:
        _check_name("consumer", consumer, 200)
    chosen = outbox.c.id.in_(list(ids)) if ids else outbox.c.state == DEAD
    chosen = sa.and_(chosen, outbox.c.state.in_([DEAD, SKIPPED]))
    if consumer is not None:
        chosen = sa.and_(chosen, outbox.c.consumer == consumer)
    now = utcnow()
    async with store.transaction() as connection:
        if consumer is not None:
            await _check_known_consumer(connection, consumer)
        # The consumer rows first, the items second: the worker's settling locks them in that order.
        await connection.execute(outbox_consumers.update().where(
            outbox_consumers.c.consumer.in_(sa.select(outbox.c.consumer).where(chosen).distinct()),
        ).values(failures=0, retry_at=None, updated_at=now))
        result = await connection.execute(outbox.update().where(chosen).values(
            state=PENDING, attempts=0, last_error=None, updated_at=now))
        return result.rowcount


async def summary(store: Store) -> dict[str, dict[str, Any]]:
    """Each consumer's state, JSON-ready: item counts by state, the age in seconds of its oldest pending
    item, and its pause, backoff and lease (a pause or retry time already past shows as None)."""
    now = utcnow()
    consumers: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return consumers.setdefault(name, {**dict.fromkeys(STATES, 0), "oldest_pending_age": None, "failures": 0,
                                           "retry_at": None, "paused_until": None, "pause_reason": None,
                                           "lease_owner": None, "lease_until": None})

    counts = sa.select(outbox.c.consumer, outbox.c.state, sa.func.count(), sa.func.min(outbox.c.created_at)).group_by(
        outbox.c.consumer, outbox.c.state)
    async with store.connect() as connection:
        for name, state, count, oldest in await connection.execute(counts):
            entry(name)[state] = count
            if state == PENDING:
                entry(name)["oldest_pending_age"] = round((now - utc(oldest)).total_seconds(), 3)  # type: ignore[operator]
        for row in await connection.execute(sa.select(outbox_consumers)):
            paused = _future(row.paused_until, now)
            entry(row.consumer).update(
                failures=row.failures, retry_at=_iso(_future(row.retry_at, now)), paused_until=_iso(paused),
                pause_reason=row.pause_reason if paused else None, lease_owner=row.lease_owner,
                lease_until=_iso(_future(row.lease_until, now)) if row.lease_owner else None)
    return dict(sorted(consumers.items()))


async def resume(store: Store, consumer: str) -> bool:
    """Lift a consumer's pause by hand; return whether it was paused."""
    _check_name("consumer", consumer, 200)
    now = utcnow()
    async with store.transaction() as connection:
        await _check_known_consumer(connection, consumer)
        result = await connection.execute(outbox_consumers.update().where(
            outbox_consumers.c.consumer == consumer, outbox_consumers.c.paused_until > now,
        ).values(paused_until=None, pause_reason=None, updated_at=now))
        return result.rowcount == 1


# -- checks ----------------------------------------------------------------------------------------

def _check_name(label: str, value: object, longest: int) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{label} must be a non-empty string, not {value!r}")
    if len(value) > longest:
        raise ValueError(f"{label} is longer than {longest} characters: {value[:40]!r}...")


def _check_state(state: str) -> None:
    if state not in STATES:
        raise ValueError(f"unknown outbox state {state!r}; expected one of {', '.join(STATES)}")


async def _check_known_consumer(connection: AsyncConnection, consumer: str) -> None:
    # A typo in an operator's command must not pass for "nothing to do".
    known = sa.select(sa.or_(sa.exists().where(outbox_consumers.c.consumer == consumer),
                             sa.exists().where(outbox.c.consumer == consumer)))
    if not (await connection.execute(known)).scalar():
        raise ValueError(f"no outbox consumer named {consumer!r}")


def _future(value: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    value = utc(value)
    return value if value is not None and value > now else None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None

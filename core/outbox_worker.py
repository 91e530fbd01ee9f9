"""The outbox worker: delivers each consumer's pending items, in order, from any ``chinwag serve`` process.

Every process may run a worker; a lease on the consumer's row in ``outbox_consumers`` lets one
worker at a time deliver a given consumer, which keeps its items (and so each lead's) in order
across processes. A round for one consumer reads like this:

1. claim, in one short transaction: take or renew the lease and read the oldest pending batch;
2. deliver, outside any transaction (network time must never hold the database);
3. settle, in another transaction: delivered, skipped, or one more attempt (dead at the limit),
   and the consumer's backoff or pause; then the next batch, until none is left or one fails.

A worker that dies holding a lease is replaced once the lease runs out. An item sent by a worker
that died before settling it is sent again: consumers pass ``item.key`` so the remote applies it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from .outbox import (DEAD, DELIVERED, FORGET_KIND, IS_PENDING, SKIPPED, OutboxConsumer, OutboxItem, PauseDelivery, RetryLater,
                     Skipped, insert_ignoring_duplicates, outbox, outbox_consumers)
from .store import Store, utcnow

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger("chinwag.outbox")

# (connection, consumer, how many items died, the last error), awaited in the settling transaction.
OnDead = Callable[[AsyncConnection, str, int, str], Awaitable[None]]


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"OutboxPolicy.{attribute.name} must be positive, not {value!r}")


@attrs.frozen
class OutboxPolicy:
    """How patiently the worker delivers.

    * ``base_delay``, ``max_delay``: the backoff after failed batches (see ``backoff``).
    * ``max_attempts``: an item whose delivery failed this many times becomes ``dead`` with its last error.
    * ``lease_seconds``: how long a claim on a consumer lasts, renewed before each batch. A delivery
      gets half of it (``delivery_timeout``), the other half is margin to settle before the lease ends,
      and a worker that died is replaced after at most this long.
    * ``poll_interval``: how often the worker looks for work when nobody calls ``notify``.
    * ``linger``: how long the worker waits after a ``notify`` before it looks, so that the rows of
      the turns committed meanwhile go out in the same batch. Under load a round delivers full
      batches back to back and then waits for the next notification, instead of chasing every
      commit with a batch of one (which costs the turn writer its database: see
      docs/benchmarks.md).
    """

    base_delay: float = attrs.field(default=1.0, validator=_positive)
    max_delay: float = attrs.field(default=900.0, validator=_positive)
    max_attempts: int = attrs.field(default=10, validator=_positive)
    lease_seconds: float = attrs.field(default=30.0, validator=_positive)
    poll_interval: float = attrs.field(default=1.0, validator=_positive)
    linger: float = attrs.field(default=0.2, validator=attrs.validators.ge(0))

    @property
    def delivery_timeout(self) -> float:
        """Seconds one ``deliver`` call may take before it counts as a transient failure."""
        return self.lease_seconds / 2

    def backoff(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failed batches (1 or more).

        Exponential with "equal jitter": the ceiling doubles from ``base_delay`` up to ``max_delay``,
        and the wait is drawn between half the ceiling and the ceiling. The random half spreads the
        retries of many workers; the fixed half keeps a failing remote from being retried at once,
        which full jitter (drawn from zero) would allow.
        """
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(max(failures, 1) - 1, 60))
        return random.uniform(ceiling / 2, ceiling)


@attrs.frozen
class _Claim:
    """A batch taken under our lease, and the consumer's failure count at that moment."""

    items: list[OutboxItem]
    failures: int


@attrs.frozen
class _Delivered:
    skipped: Mapping[int, Skipped]


@attrs.frozen
class _Failed:
    error: str
    retry_after: float | None = None


@attrs.frozen
class _Paused:
    until: dt.datetime
    reason: str


_Outcome = _Delivered | _Failed | _Paused
_OUTCOME_NAMES = {_Delivered: "delivered", _Failed: "failed", _Paused: "paused"}  # for the metrics


def default_owner() -> str:
    """A lease owner name unique to this worker: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class OutboxWorker:
    """Delivers the outbox's pending items to ``consumers`` (by consumer name); see the module docstring."""

    def __init__(self, store: Store, consumers: Mapping[str, OutboxConsumer], policy: OutboxPolicy = OutboxPolicy(),
                 owner: str | None = None, on_dead: OnDead | None = None, metrics: Metrics | None = None) -> None:
        for name, consumer in consumers.items():
            if consumer.name != name:
                raise ValueError(f"outbox consumer {consumer.name!r} is registered as {name!r}")
            if consumer.batch_size < 1:
                raise ValueError(f"outbox consumer {name!r} has batch_size {consumer.batch_size}; it must be 1 or more")
        self.store = store
        self.consumers = dict(consumers)
        self.policy = policy
        self.owner = owner or default_owner()
        self.on_dead = on_dead  # called in the settling transaction when items die (the notifications' alert)
        self.metrics = metrics  # told each batch's outcome
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._rows_made = False
        # Our own lease lets us in again, so this is what keeps a second ``run_once`` (the loop's and a
        # caller's) from delivering a consumer this worker is delivering already.
        self._draining: set[str] = set()

    # -- the loop ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Run ``run_once`` in a background task every ``poll_interval``, or sooner after ``notify``."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"outbox-worker-{self.owner}")

    def notify(self) -> None:
        """New rows were committed: look now. Call it from the worker's own event loop."""
        self._wake.set()

    async def stop(self, grace: float = 0.0) -> None:
        """Stop the loop and release our leases. A batch being delivered gets up to ``grace`` seconds
        to finish and be settled (a shutdown: nothing is sent twice for it); past that, or without
        ``grace``, it is abandoned: its items stay pending, for any worker to send again."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            if grace > 0:
                with contextlib.suppress(Exception):  # TimeoutError: abandoned, as said above
                    await asyncio.wait_for(asyncio.shield(self._task), grace)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if not self._rows_made:
            return  # never ran a round, so it holds no lease (and the store may not even be open)
        try:
            async with self.store.transaction() as connection:
                await connection.execute(outbox_consumers.update().where(outbox_consumers.c.lease_owner == self.owner)
                                         .values(lease_owner=None, lease_until=None, updated_at=utcnow()))
        except Exception:  # shutting down anyway: the leases run out by themselves
            log.warning("outbox worker %s: could not release its leases", self.owner, exc_info=True)

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                await self.run_once()
            except Exception:  # e.g. the database is away: try again at the next poll
                log.exception("outbox worker %s: a round failed", self.owner)
            if self._stopping:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), self.policy.poll_interval)
            except TimeoutError:
                continue
            await asyncio.sleep(self.policy.linger)  # let the turns committing now join this round
            self._wake.clear()

    async def run_once(self) -> int:
        """Deliver every consumer that has pending items and may go now; return how many items were settled
        (delivered, skipped or dead). Consumers run side by side, so a slow remote delays only its own."""
        if not self.consumers:
            return 0
        if not self._rows_made:
            await self._make_consumer_rows()
        due = [name for name in await self._due_consumers() if name not in self._draining]
        self._draining.update(due)
        settled = await asyncio.gather(*(self._drain_isolated(name) for name in due))
        return sum(settled)

    # -- one consumer ------------------------------------------------------------------------------

    async def _drain_isolated(self, name: str) -> int:
        try:
            return await self._drain(name)
        except Exception:  # one consumer's trouble (or a bug) never stops the others
            log.exception("outbox consumer %s: delivery round failed", name)
            with contextlib.suppress(Exception):
                await self._release(name)
            return 0
        finally:
            self._draining.discard(name)

    async def _drain(self, name: str) -> int:
        consumer = self.consumers[name]
        settled = 0
        while not self._stopping:  # a stopping worker settles its batch and takes no other
            claim = await self._claim(name, consumer.batch_size, float(getattr(consumer, "batch_wait", 0) or 0))
            if claim is None:  # another worker holds it, or it is paused or backing off
                return settled
            if not claim.items:
                break
            outcome = await self._deliver(consumer, claim.items)
            settled_now = await self._settle(name, claim, outcome)
            settled += settled_now
            if self.metrics is not None:
                self.metrics.outbox_batch(name, _OUTCOME_NAMES[type(outcome)],
                                          dead=settled_now if isinstance(outcome, _Failed) else 0)
            # A short batch took everything pending: what arrives meanwhile waits for the next round
            # (after a notify and the linger) rather than going out in batches of one or two.
            if not isinstance(outcome, _Delivered) or len(claim.items) < consumer.batch_size:
                break
        await self._release(name)
        return settled

    def _claimable(self, now: dt.datetime) -> sa.ColumnElement[bool]:
        """The consumer rows this worker may take: lease free, expired or ours; no pause; no backoff."""
        c = outbox_consumers.c
        return sa.and_(sa.or_(c.lease_owner.is_(None), c.lease_until < now, c.lease_owner == self.owner),
                       sa.or_(c.paused_until.is_(None), c.paused_until <= now),
                       sa.or_(c.retry_at.is_(None), c.retry_at <= now))

    async def _due_consumers(self) -> list[str]:
        # A read, so an idle worker polls without writing (SQLite has a single writer: the turns').
        has_pending = sa.exists().where(outbox.c.consumer == outbox_consumers.c.consumer, IS_PENDING)
        query = sa.select(outbox_consumers.c.consumer).where(
            outbox_consumers.c.consumer.in_(list(self.consumers)), self._claimable(utcnow()), has_pending)
        async with self.store.connect() as connection:
            return list((await connection.execute(query)).scalars())

    async def _claim(self, name: str, batch_size: int, batch_wait: float = 0.0) -> _Claim | None:
        """Take or renew the lease and read the oldest pending batch, in one transaction; None if not ours.

        A short batch whose oldest item is younger than ``batch_wait`` seconds is left to fill: the
        claim comes back empty and a later round (a commit's notify, or the poll) looks again.
        """
        now = utcnow()
        mine = sa.and_(outbox_consumers.c.consumer == name, self._claimable(now))
        async with self.store.transaction() as connection:
            if connection.dialect.name == "postgresql":
                # Lock the row, or skip it when another worker is claiming it right now.
                query = sa.select(outbox_consumers.c.consumer).where(mine).with_for_update(skip_locked=True)
                if (await connection.execute(query)).first() is None:
                    return None
            # On SQLite this UPDATE is atomic on its own: one writer at a time, the condition checked as it writes.
            taken = await connection.execute(outbox_consumers.update().where(mine).values(
                lease_owner=self.owner, lease_until=now + dt.timedelta(seconds=self.policy.lease_seconds),
                retry_at=None, paused_until=None, pause_reason=None, updated_at=now))
            if taken.rowcount != 1:
                return None
            failures = (await connection.execute(sa.select(outbox_consumers.c.failures).where(
                outbox_consumers.c.consumer == name))).scalar_one()
            rows = await connection.execute(sa.select(outbox).where(
                outbox.c.consumer == name, IS_PENDING).order_by(outbox.c.id).limit(batch_size))
            items = [OutboxItem.from_row(row) for row in rows]
            if items and len(items) < batch_size and (now - items[0].created_at).total_seconds() < batch_wait:
                return _Claim([], failures)
            if items:
                # The attempt counts before the sending, in the claim's transaction: an item whose
                # worker dies mid-delivery comes back with ``attempts > 0``, which tells the consumer
                # it may have reached the remote already (``item.attempts`` is the sends before this one).
                await connection.execute(outbox.update().where(outbox.c.id.in_([item.id for item in items]))
                                         .values(attempts=outbox.c.attempts + 1))
            return _Claim(items, failures)

    async def _deliver(self, consumer: OutboxConsumer, items: list[OutboxItem]) -> _Outcome:
        """Call the consumer and say what came of it; only cancellation passes through."""
        try:
            result = await asyncio.wait_for(consumer.deliver(items), self.policy.delivery_timeout)
        except PauseDelivery as pause:
            log.info("outbox consumer %s paused until %s: %s", consumer.name, pause.until.isoformat(), pause.reason)
            return _Paused(pause.until, pause.reason)
        except RetryLater as retry:
            log.warning("outbox consumer %s: %d items to retry: %s", consumer.name, len(items), retry.reason)
            return _Failed(retry.reason, retry.after)
        except TimeoutError:
            log.warning("outbox consumer %s: no answer within %g s", consumer.name, self.policy.delivery_timeout)
            return _Failed(f"no answer within {self.policy.delivery_timeout:g} s")
        except Exception as error:
            log.warning("outbox consumer %s failed: %s", consumer.name, error, exc_info=True)
            return _Failed(f"{type(error).__name__}: {error}")
        if result is None:
            return _Delivered({})
        if not isinstance(result, Mapping) or not all(isinstance(value, Skipped) for value in result.values()):
            log.error("outbox consumer %s: deliver returned %r", consumer.name, result)
            return _Failed(f"deliver returned {type(result).__name__}; expected None or {{item id: Skipped}}")
        ids = {item.id for item in items}
        if result.keys() - ids:
            log.warning("outbox consumer %s skipped ids not in its batch: %s", consumer.name,
                        sorted(result.keys() - ids))
        return _Delivered({item_id: skipped for item_id, skipped in result.items() if item_id in ids})

    async def _settle(self, name: str, claim: _Claim, outcome: _Outcome) -> int:
        """Record a batch's outcome in one transaction; return how many items it settled.

        Settled even if our lease ran out meanwhile: only items still pending change, so a batch
        another worker settled first stays as it settled it.
        """
        now = utcnow()
        ids = [item.id for item in claim.items]
        consumer_row = outbox_consumers.update().where(outbox_consumers.c.consumer == name)
        batch = sa.and_(outbox.c.id.in_(ids), IS_PENDING)
        async with self.store.transaction() as connection:
            # The consumer row before the items, in every transaction that changes both (no deadlock).
            if isinstance(outcome, _Paused):
                await connection.execute(consumer_row.values(
                    paused_until=outcome.until, pause_reason=outcome.reason, updated_at=now))
                await connection.execute(outbox.update().where(batch).values(attempts=outbox.c.attempts - 1))
                return 0  # a pause is not an attempt: the remote refused to look
            if isinstance(outcome, _Failed):
                failures = claim.failures + 1
                delay = outcome.retry_after if outcome.retry_after is not None else self.policy.backoff(failures)
                await connection.execute(consumer_row.values(
                    failures=failures, retry_at=now + dt.timedelta(seconds=delay), updated_at=now))
                died = await _count_failure(connection, batch, outcome.error, self.policy.max_attempts, now)
                if died and self.on_dead is not None:  # told in the same transaction: never lost, never twice
                    await self.on_dead(connection, name, died, outcome.error)
                return died
            await connection.execute(consumer_row.values(failures=0, retry_at=None, updated_at=now))
            return await _count_success(connection, batch, outcome.skipped, now)

    async def _release(self, name: str) -> None:
        async with self.store.transaction() as connection:
            await connection.execute(outbox_consumers.update().where(
                outbox_consumers.c.consumer == name, outbox_consumers.c.lease_owner == self.owner,
            ).values(lease_owner=None, lease_until=None, updated_at=utcnow()))

    async def _make_consumer_rows(self) -> None:
        # Once per worker: the lease is taken by updating this row, so it must exist.
        rows = [{"consumer": name, "failures": 0, "updated_at": utcnow()} for name in self.consumers]
        async with self.store.transaction() as connection:
            await connection.execute(insert_ignoring_duplicates(connection, outbox_consumers, "consumer"), rows)
        self._rows_made = True


async def _count_failure(connection: AsyncConnection, batch: sa.ColumnElement[bool], error: str, max_attempts: int,
                         now: dt.datetime) -> int:
    """A failed batch (its attempt was counted at the claim): items at ``max_attempts`` die. Returns the dead count."""
    died = await connection.execute(outbox.update().where(batch, outbox.c.attempts >= max_attempts).values(
        state=DEAD, last_error=error, updated_at=now))
    await connection.execute(outbox.update().where(batch).values(last_error=error, updated_at=now))
    return died.rowcount


async def _count_success(connection: AsyncConnection, batch: sa.ColumnElement[bool], skipped: Mapping[int, Skipped],
                         now: dt.datetime) -> int:
    """Settle a delivered batch: the refused items skipped with their reason, the rest delivered."""
    settled = 0
    for item_id, refusal in skipped.items():  # few, usually none
        result = await connection.execute(outbox.update().where(batch, outbox.c.id == item_id).values(
            state=SKIPPED, last_error=refusal.reason, updated_at=now))
        settled += result.rowcount
    # A delivered request to forget a person keeps no trace of whom it was about.
    await connection.execute(outbox.update().where(batch, outbox.c.kind == sa.literal_column(f"'{FORGET_KIND}'"))
                             .values(payload={}))
    result = await connection.execute(outbox.update().where(batch).values(
        state=DELIVERED, last_error=None, updated_at=now, delivered_at=now))
    return settled + result.rowcount


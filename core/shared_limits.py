"""Limits on calls to a remote API that hold across every process sharing the database.

A vendor counts calls per instance, not per chinwag process: Marketo allows 100 calls in any
20 seconds and 10 at once for a whole subscription (and recommends half of it per integration).
``SharedLimiter`` keeps both counts in the database, so two or twenty ``chinwag serve``
processes together stay under them:

* **rate**: every call is a row of ``limiter_calls``; a call may start when fewer than ``calls``
  rows of its limiter are younger than ``per_seconds``;
* **concurrency**: a call in flight holds a row of ``limiter_slots`` until it ends (or, if its
  process died, until the row's ``expires_at``); a call may start when fewer than
  ``concurrency`` live rows exist.

Deciding takes a lock per limiter (the limiter's row in ``limiters``, updated first in the
transaction: a row lock on PostgreSQL, the write lock on SQLite), so two processes never both
take the last place. Times are the processes' clocks: run the processes on hosts kept in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from collections.abc import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from .store import Store, utc, utcnow

metadata = sa.MetaData()

limiters = sa.Table(
    "limiters",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),  # written to take the lock
)

limiter_calls = sa.Table(
    "limiter_calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("limiter", sa.String(100), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_limiter_calls_limiter_at", "limiter", "at"),
)

# Calls per limiter and day (in the vendor's zone), for a daily quota display.
limiter_days = sa.Table(
    "limiter_days",
    metadata,
    sa.Column("limiter", sa.String(100), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("calls", sa.Integer, nullable=False),
)

limiter_slots = sa.Table(
    "limiter_slots",
    metadata,
    sa.Column("token", sa.String(40), primary_key=True),
    sa.Column("limiter", sa.String(100), nullable=False, index=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


class LimiterBusy(Exception):
    """No place is free right now, and the caller asked not to wait."""


class SharedLimiter:
    """``async with limiter.call():`` waits until a call may start under both limits, across processes."""

    def __init__(self, store: Store, name: str, calls: int, per_seconds: float, concurrency: int,
                 call_timeout: float = 120.0, poll: float = 0.05, day_zone: dt.tzinfo = dt.timezone.utc) -> None:
        """``day_zone``: where the vendor's day (for its daily quota) begins and ends."""
        if calls < 1 or per_seconds <= 0 or concurrency < 1:
            raise ValueError("a limiter needs at least one call per period and one call at a time")
        self.store, self.name = store, name
        # A call is counted from when its place was taken; it reaches the vendor a little later,
        # after the commit and the trip over the network, and that delay varies from call to call.
        # The margin keeps the variation from squeezing more calls into one of the vendor's windows
        # (half a second, seen needed on a loaded machine; 5 % of a long window).
        self.calls = calls
        self.window = dt.timedelta(seconds=per_seconds + max(0.5, per_seconds * 0.05))
        self.concurrency, self.call_timeout, self.poll = concurrency, call_timeout, poll
        self.day_zone = day_zone

    @contextlib.asynccontextmanager
    async def call(self, wait: bool = True) -> AsyncIterator[None]:
        """Wait for a place, hold it for the call, give the concurrency place back afterwards.

        With ``wait=False`` a call that cannot start at once raises ``LimiterBusy`` instead: for
        work a visitor is waiting on, which must not queue behind background deliveries.
        """
        token = await self._acquire(wait)
        try:
            yield
        finally:
            async with self.store.transaction() as connection:
                await connection.execute(sa.delete(limiter_slots).where(limiter_slots.c.token == token))

    async def _acquire(self, wait: bool = True) -> str:
        while True:
            async with self.store.transaction() as connection:
                outcome = await self._try(connection)
            if isinstance(outcome, str):
                return outcome
            if not wait:
                raise LimiterBusy(f"{self.name}: no call may start for {outcome:.1f} s")
            await asyncio.sleep(max(outcome, self.poll))

    async def _try(self, connection: AsyncConnection) -> str | float:
        """Take a place and return its token, or the seconds to wait before trying again."""
        await self._lock(connection)
        now = utcnow()  # read after the lock: a decider that waited for it must not use an older time
        window_start = now - self.window
        await connection.execute(sa.delete(limiter_calls).where(
            limiter_calls.c.limiter == self.name, limiter_calls.c.at <= window_start))
        await connection.execute(sa.delete(limiter_slots).where(
            limiter_slots.c.limiter == self.name, limiter_slots.c.expires_at <= now))
        recent = (await connection.execute(sa.select(sa.func.count(), sa.func.min(limiter_calls.c.at)).where(
            limiter_calls.c.limiter == self.name))).one()
        if recent[0] >= self.calls:
            return (utc(recent[1]) + self.window - now).total_seconds()  # type: ignore[operator]
        in_flight = (await connection.execute(sa.select(sa.func.count()).where(
            limiter_slots.c.limiter == self.name))).scalar_one()
        if in_flight >= self.concurrency:
            return self.poll
        token = secrets.token_hex(16)
        await connection.execute(sa.insert(limiter_calls).values(limiter=self.name, at=now))
        day = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(limiter_days)
        await connection.execute(day.values(limiter=self.name, day=now.astimezone(self.day_zone).date(), calls=1)
                                 .on_conflict_do_update(index_elements=["limiter", "day"],
                                                        set_={"calls": limiter_days.c.calls + 1}))
        await connection.execute(sa.insert(limiter_slots).values(
            token=token, limiter=self.name, expires_at=now + dt.timedelta(seconds=self.call_timeout)))
        return token

    async def _lock(self, connection: AsyncConnection) -> None:
        """Serialise deciders of this limiter: write its row first (an upsert, so the first time too)."""
        now = utcnow()
        insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(limiters)
        await connection.execute(insert.values(name=self.name, touched_at=now)
                                 .on_conflict_do_update(index_elements=["name"], set_={"touched_at": now}))

    async def calls_today(self) -> int:
        """Calls started today, in the vendor's zone (for its daily quota)."""
        today = utcnow().astimezone(self.day_zone).date()
        async with self.store.connect() as connection:
            return int((await connection.execute(sa.select(limiter_days.c.calls).where(
                limiter_days.c.limiter == self.name, limiter_days.c.day == today))).scalar() or 0)

    async def calls_in_window(self) -> int:
        """Calls started in the last ``per_seconds`` (for status displays and tests)."""
        since = utcnow() - self.window
        async with self.store.connect() as connection:
            return int((await connection.execute(sa.select(sa.func.count()).where(
                limiter_calls.c.limiter == self.name, limiter_calls.c.at > since))).scalar_one())

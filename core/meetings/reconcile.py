"""Events chinwag asked a provider to create but has no meeting for: found and cancelled.

A booking records the event it is about to create (``unconfirmed_events``: idempotency key,
agent, time) just before the create, and deletes the record in the transaction that confirms
the meeting. A record that outlives its booking means the outcome is unknown: the provider may
have created the event and lost its answer, then stayed down until the booking gave up (the
visitor was told the calendar service failed, and no meeting row was kept), or the process died
mid-booking. The sweep asks the provider for the event by the key (``find_event``) and cancels it,
so the lead's invitation is withdrawn and the agent's time freed.

The sweep runs every ``meetings.reconcile_every`` seconds in the serving processes, one at a time
(a job of ``app.schedule``; a record is also taken by one process at a time through its
``checked_at``, for ``chinwag meetings reconcile`` run beside them), and on demand with
``chinwag meetings reconcile``. A record is left alone while a booking of its key is under way
(a ``pending`` meeting), dropped when the booking did finish, and dropped unchecked once its
meeting time has passed (a cancellation for a past meeting helps nobody). A provider that is
down, or an agent who must reconnect, leaves the record for the next sweep.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from ..calendars import CalendarError
from ..outbox import insert_ignoring_duplicates
from ..store import utc, utcnow
from .agent_state import with_grant
from .settings import meeting_settings
from .tables import meetings, unconfirmed_events

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from ..app import Chinwag

log = logging.getLogger("chinwag.meetings.reconcile")
# A record taken by a sweep is left to it until it lets go, or for this long if its process died.
RECHECK = dt.timedelta(minutes=5)


@attrs.frozen
class SweepResult:
    """What one sweep did: events ``cancelled``, records ``cleared`` with nothing to cancel, ``waiting`` for later."""

    cancelled: int = 0
    cleared: int = 0
    waiting: int = 0


async def note_unconfirmed(app: Chinwag, key: str, agent: str, start: dt.datetime, end: dt.datetime) -> None:
    """Record the event about to be created (before the create: its outcome may never be known)."""
    row = {"idempotency_key": key, "agent_email": agent, "start": start, "end": end, "created_at": utcnow(),
           "checked_at": None, "attempts": 0, "last_error": None}
    async with app.store.transaction() as connection:
        await connection.execute(insert_ignoring_duplicates(connection, unconfirmed_events, "idempotency_key", "agent_email"), [row])


async def forget_unconfirmed(connection: AsyncConnection, key: str, agent: str) -> None:
    """Drop the record in the caller's transaction (the one that confirms the meeting)."""
    await connection.execute(sa.delete(unconfirmed_events).where(
        unconfirmed_events.c.idempotency_key == key, unconfirmed_events.c.agent_email == agent))


async def sweep(app: Chinwag) -> SweepResult:
    """Check every record no other sweep holds; cancel the events that exist without a meeting."""
    cancelled = cleared = waiting = 0
    for record in await _take_records(app):
        try:
            outcome = await _settle(app, record)
        except Exception as error:  # one record's trouble (a provider's bug) must not stop the others
            log.warning("checking %s's event for key %s failed: %s", record.agent_email, record.idempotency_key, error)
            outcome = await _wait(app, record, f"{type(error).__name__}: {error}")
        cancelled += outcome == "cancelled"
        cleared += outcome == "cleared"
        waiting += outcome == "waiting"
    if cancelled:
        log.warning("cancelled %d calendar event(s) whose booking never finished", cancelled)
    return SweepResult(cancelled, cleared, waiting)


def schedule_sweep(app: Chinwag) -> None:
    """Sweep every ``meetings.reconcile_every`` seconds in the serving processes (a job of
    ``app.schedule``: one process at a time)."""

    async def run() -> str | None:
        result = await sweep(app)
        return f"{result.cancelled} cancelled, {result.waiting} waiting" if result.cancelled or result.waiting else None

    app.schedule.add("meetings-reconcile", meeting_settings(app).reconcile_every, run)


async def _take_records(app: Chinwag) -> list[Any]:
    """The records free to check, each taken for ``RECHECK`` by a conditional update (one process each)."""
    now = utcnow()
    free = sa.or_(unconfirmed_events.c.checked_at.is_(None), unconfirmed_events.c.checked_at < now - RECHECK)
    async with app.store.connect() as connection:
        candidates = (await connection.execute(sa.select(unconfirmed_events).where(free))).all()
    taken = []
    for record in candidates:
        async with app.store.transaction() as connection:
            claimed = await connection.execute(sa.update(unconfirmed_events).where(
                unconfirmed_events.c.idempotency_key == record.idempotency_key,
                unconfirmed_events.c.agent_email == record.agent_email, free,
            ).values(checked_at=now, attempts=unconfirmed_events.c.attempts + 1))
        if claimed.rowcount == 1:
            taken.append(record)
    return taken


async def _settle(app: Chinwag, record: Any) -> str:
    """cancelled, cleared or waiting: what became of one record."""
    key, agent = record.idempotency_key, record.agent_email
    async with app.store.connect() as connection:
        status = (await connection.execute(sa.select(meetings.c.status).where(
            meetings.c.idempotency_key == key, meetings.c.agent_email == agent))).scalar()
    if status == "pending":
        return await _wait(app, record, "its booking is under way")
    if status is not None:  # the booking finished: the event belongs to a meeting
        return await _clear(app, record)
    if utc(record.end) <= utcnow():  # type: ignore[operator]
        log.warning("an event for %s at %s may exist without a meeting; its time has passed, so it is left alone",
                    agent, utc(record.start))
        return await _clear(app, record)
    if agent not in meeting_settings(app).agents:
        return await _clear(app, record)

    async def cancel_if_there(provider: Any, grant: Any) -> bool:
        remote_id = await app.metrics.calendar(provider.name, "find_event",
                                               provider.find_event(app, grant, key, utc(record.start), utc(record.end)))
        if remote_id is None:
            return False
        await app.metrics.calendar(provider.name, "cancel_event", provider.cancel_event(app, grant, remote_id))
        return True

    try:
        found = await with_grant(app, agent, cancel_if_there)
    except CalendarError as error:
        return await _wait(app, record, str(error))
    if found is None:
        return await _wait(app, record, f"{agent} must reconnect their calendar")
    if found:
        log.warning("cancelled %s's event at %s: its booking never finished (key %s)", agent, utc(record.start), key)
    await _clear(app, record)
    return "cancelled" if found else "cleared"


async def _clear(app: Chinwag, record: Any) -> str:
    async with app.store.transaction() as connection:
        await forget_unconfirmed(connection, record.idempotency_key, record.agent_email)
    return "cleared"


async def _wait(app: Chinwag, record: Any, reason: str) -> str:
    """Keep the record for a later sweep, saying why, and let go of it."""
    async with app.store.transaction() as connection:
        await connection.execute(sa.update(unconfirmed_events).where(
            unconfirmed_events.c.idempotency_key == record.idempotency_key,
            unconfirmed_events.c.agent_email == record.agent_email).values(last_error=reason, checked_at=None))
    return "waiting"

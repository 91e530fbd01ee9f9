"""The meetings list, and cancelling or moving a meeting (the remote event follows).

Shared by ``chinwag meetings`` and the admin endpoint ``/-/admin/meetings.json``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .agent_state import with_grant
from ..calendars import Interval, subtract_interval
from .schedules import refresh_schedules
from .settings import meeting_settings
from .tables import claim_cells, meeting_claims, meetings
from ..store import utc, utcnow

if TYPE_CHECKING:
    from ..app import Chinwag


class MeetingError(Exception):
    """A meeting cannot be changed as asked (unknown, already cancelled, time taken...)."""


async def list_meetings(app: Chinwag, agent: str | None = None, since: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Booked meetings (not holds under way), soonest first: who, with whom, when, status, passed."""
    query = sa.select(meetings).where(meetings.c.status != "pending").order_by(meetings.c.start, meetings.c.id)
    if agent:
        query = query.where(meetings.c.agent_email == agent.lower())
    if since:
        query = query.where(meetings.c.start >= since)
    async with app.store.connect() as connection:
        rows = (await connection.execute(query)).all()
    now, agents = utcnow(), meeting_settings(app).agents
    return [{
        "id": row.id, "lead_email": row.lead_email, "lead_name": row.lead_name, "agent_email": row.agent_email,
        "agent_name": agents[row.agent_email].name if row.agent_email in agents else row.agent_email,
        "start": _iso(row.start), "end": _iso(row.end), "status": row.status, "passed": utc(row.end) <= now,
        "queue": row.queue, "page_url": row.page_url, "join_url": row.join_url, "session_id": row.session_id,
        "dialogue_id": row.dialogue_id,
    } for row in rows]


async def cancel_meeting(app: Chinwag, meeting_id: str) -> dict[str, Any]:
    """Cancel the remote event (the attendee is told), then free the agent's time."""
    row = await _live(app, meeting_id)

    async def cancel(provider: Any, grant: Any) -> bool:
        await app.metrics.calendar(provider.name, "cancel_event", provider.cancel_event(app, grant, row.remote_id))
        return True

    if await with_grant(app, row.agent_email, cancel) is None:
        raise MeetingError(f"{row.agent_email} must reconnect their calendar before this meeting can be changed")
    async with app.store.transaction() as connection:
        await connection.execute(sa.delete(meeting_claims).where(meeting_claims.c.meeting_id == meeting_id))
        await connection.execute(sa.update(meetings).where(meetings.c.id == meeting_id).values(status="cancelled", updated_at=utcnow()))
        await _tell_agent(connection, app, row, "cancelled", utc(row.start))
    return await _one(app, meeting_id)


async def reschedule_meeting(app: Chinwag, meeting_id: str, start: dt.datetime) -> dict[str, Any]:
    """Move the meeting to ``start`` (same length): claim the new time, check the agent's calendar
    is free then (their other appointments, not only chinwag's bookings), then move the remote event.

    If the calendar is busy then or the remote move fails, the old time is claimed back and the
    error raised.
    """
    row = await _live(app, meeting_id)
    old_start, old_end = utc(row.start), utc(row.end)
    end = start + (old_end - old_start)  # type: ignore[operator]
    agent = (await refresh_schedules(app)).agents[row.agent_email]
    buffer = dt.timedelta(minutes=agent.availability.buffer_after)
    await _move_claims(app, row, start, end, buffer, "rescheduled")

    async def move(provider: Any, grant: Any) -> bool:
        busy = await app.metrics.calendar(provider.name, "busy", provider.busy(app, grant, start - buffer, end + buffer))
        # The meeting's own event is still at the old time; only other appointments count.
        if subtract_interval(busy, Interval(old_start, old_end)):  # type: ignore[arg-type]
            return False
        await app.metrics.calendar(provider.name, "move_event", provider.move_event(app, grant, row.remote_id, start, end))
        return True

    try:
        moved = await with_grant(app, row.agent_email, move)
    except Exception:
        await _move_claims(app, row, old_start, old_end, buffer, row.status)
        raise
    if not moved:
        await _move_claims(app, row, old_start, old_end, buffer, row.status)
        if moved is False:
            raise MeetingError(f"{row.agent_email}'s calendar is already busy at that time")
        raise MeetingError(f"{row.agent_email} must reconnect their calendar before this meeting can be changed")
    async with app.store.transaction() as connection:
        await _tell_agent(connection, app, row, "rescheduled", start)
    return await _one(app, meeting_id)


async def _tell_agent(connection: Any, app: Chinwag, row: Any, change: str, start: Any) -> None:
    """Queue the ``meeting_changed`` notification (the agent, by default) in ``connection``'s transaction."""
    from ..notifications import MEETING_CHANGED, Notification
    from ..notifications.delivery import enqueue_notification

    now = utcnow()
    await enqueue_notification(connection, app, Notification(
        MEETING_CHANGED, f"{change}-{row.id}-{now.strftime('%Y%m%dT%H%M%S%f')}", now, row.agent_email,
        {"change": change, "visitor": {"name": row.lead_name or "", "email": row.lead_email},
         "meeting": {"meeting_id": row.id, "start": _iso(start), "agent_email": row.agent_email}}))


async def _move_claims(app: Chinwag, row: Any, start: Any, end: Any, buffer: dt.timedelta, status: str) -> None:
    try:
        async with app.store.transaction() as connection:
            await connection.execute(sa.delete(meeting_claims).where(meeting_claims.c.meeting_id == row.id))
            await connection.execute(sa.insert(meeting_claims), [
                {"agent_email": row.agent_email, "cell": cell, "meeting_id": row.id} for cell in claim_cells(start, end + buffer)])
            await connection.execute(sa.update(meetings).where(meetings.c.id == row.id).values(
                start=start, end=end, status=status, updated_at=utcnow()))
    except IntegrityError as error:
        raise MeetingError(f"{row.agent_email} already has a meeting at that time") from error


async def _live(app: Chinwag, meeting_id: str) -> Any:
    async with app.store.connect() as connection:
        row = (await connection.execute(sa.select(meetings).where(meetings.c.id == meeting_id))).first()
    if row is None or row.status == "pending":
        raise MeetingError(f"no meeting {meeting_id}")
    if row.status == "cancelled":
        raise MeetingError(f"meeting {meeting_id} is already cancelled")
    return row


async def _one(app: Chinwag, meeting_id: str) -> dict[str, Any]:
    return next(m for m in await list_meetings(app) if m["id"] == meeting_id)


def _iso(moment: Any) -> str:
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[union-attr]

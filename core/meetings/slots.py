"""Free meeting times for a routing decision: each agent's blocks minus provider and own busy time.

The visitor sees the union of the free agents' slots (``chinwag.scheduling.union_slots``);
each slot remembers which agents are free then, in queue order, for the booking to choose from.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .agent_state import connected_in_order, with_grant
from ..calendars import CalendarError, Interval
from .settings import meeting_settings
from .tables import meetings
from .routing import RoutingDecision
from .schedules import refresh_schedules
from ..scheduling import Slot, UnionSlot, free_slots, union_slots
from ..store import utc

if TYPE_CHECKING:
    from ..app import Chinwag

log = logging.getLogger("chinwag.meetings")
LIVE = ("pending", "scheduled", "rescheduled")


async def own_busy(app: Chinwag, emails: list[str], start: dt.datetime) -> dict[str, list[Interval]]:
    """Our own live meetings of each agent ending after ``start`` (the provider may lag behind)."""
    busy: dict[str, list[Interval]] = {email: [] for email in emails}
    async with app.store.connect() as connection:
        rows = await connection.execute(sa.select(meetings.c.agent_email, meetings.c.start, meetings.c.end).where(
            meetings.c.agent_email.in_(emails), meetings.c.status.in_(LIVE), meetings.c.end > start))
        for row in rows:
            busy[row.agent_email].append(Interval(utc(row.start), utc(row.end)))  # type: ignore[arg-type]
    return busy


async def agent_slots(app: Chinwag, email: str, now: dt.datetime, own: list[Interval]) -> list[Slot] | None:
    """The agent's free slots, or None when their calendar cannot be read right now."""
    agent = meeting_settings(app).agents[email]
    until = now + dt.timedelta(days=agent.availability.horizon_days + 2)

    async def read(provider: Any, grant: Any) -> list[Interval]:
        return await app.metrics.calendar(provider.name, "busy", provider.busy(app, grant, now, until))

    try:
        remote = await with_grant(app, email, read)
    except CalendarError as error:  # an outage of one calendar hides that agent, not the card
        log.warning("cannot read %s's calendar: %s", email, error)
        return None
    if remote is None:
        return None
    return free_slots(agent.availability, [*remote, *own], now)


async def offer(app: Chinwag, decision: RoutingDecision, now: dt.datetime) -> list[UnionSlot[str]]:
    """Every slot some agent of the decision can take, in time order, agents in queue order
    (by each agent's schedule as last saved, whichever process saved it)."""
    await refresh_schedules(app)
    emails = await connected_in_order(app, decision.agents)
    own = await own_busy(app, emails, now)
    found = await asyncio.gather(*(agent_slots(app, email, now, own[email]) for email in emails))
    return union_slots({email: slots for email, slots in zip(emails, found) if slots})

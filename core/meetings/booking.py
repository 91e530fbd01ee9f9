"""Booking one meeting without ever booking an agent twice.

1. **Hold** (one transaction): lock the queue's round-robin pointer, let the routing strategy
   order the agents still free at that time, and insert the meeting (``pending``) with its
   claims on the agent's time (``chinwag.meetings.tables``). A claim that another booking got
   first makes the insert fail; the next agent is tried.
2. **Fresh free/busy check** with the provider for exactly that time (plus buffer): the agent may
   have accepted another meeting since the slots were shown. Busy means: release, next agent.
3. **Create the remote event** with the meeting's idempotency key (Google event id, Graph
   ``transactionId``), so a retry never makes two events.
   Just before, the event is recorded in ``unconfirmed_events`` (``chinwag.meetings.reconcile``).
4. **Confirm** the meeting (``scheduled``) and drop that record, or on any failure **release** the
   hold: the meeting row and its claims are deleted and the pointer goes back. A create whose
   outcome is unknown (its answer lost, then the provider down) keeps its record, and the
   reconciliation sweep cancels the event if it exists, so no orphan remains.

A process that dies between steps 1 and 4 leaves a ``pending`` hold behind; ``release_stale_holds``
deletes holds older than ``STALE_HOLD`` (at startup and before each booking), so the time is
offered again. If the remote event was made before the crash, step 2 of the next booking sees
the agent busy then, so nobody is booked twice, and the sweep cancels that event.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import attrs
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .agent_state import with_grant
from ..calendars import CalendarError, EventRequest
from .invitation import render_invitation, render_summary
from .reconcile import forget_unconfirmed, note_unconfirmed
from .settings import meeting_settings
from .slots import LIVE
from .tables import agents as agent_rows
from .tables import claim_cells, meeting_claims, meetings, routing_pointers
from .routing import RoutingContext, RoutingDecision, period_start
from ..session import new_id
from ..store import utcnow

if TYPE_CHECKING:
    from ..app import Chinwag

log = logging.getLogger("chinwag.meetings.booking")
HOLD_ATTEMPTS = 5  # a hold loses a race only to a booking of the same agent from another queue
AGENT_BUSY = object()  # the fresh check found the agent busy: try the next one
# Far beyond a booking's slowest path (a fresh check and a create, each with its retries).
STALE_HOLD = dt.timedelta(minutes=15)
OUTAGE_MESSAGE = "meeting_outage"  # the catalog key of what the visitor is told


@attrs.frozen
class BookingRequest:
    """A visitor's chosen time and who may take it."""

    idempotency_key: str
    decision: RoutingDecision
    start: dt.datetime
    end: dt.datetime
    agents: tuple[str, ...]  # agents free at this time when it was offered, in queue order
    lead: Mapping[str, Any]
    visitor_time_zone: str = "UTC"
    session_id: str | None = None
    dialogue_id: str | None = None
    page_url: str | None = None
    online_meeting: bool = False


@attrs.frozen
class BookingResult:
    """``booked`` (with the meeting row as a dict), ``taken`` (nobody free then: another booking or
    the agent's calendar got the time), ``unavailable`` (an agent who was free then can no longer
    take meetings: their calendar grant was revoked since the offer) or ``failed``."""

    outcome: str
    meeting: Mapping[str, Any] | None = None
    message: str | None = None  # what the visitor is told when it failed: a catalog key
    agent: str | None = None  # the agent whose calendar failed
    reason: str | None = None  # why, for the people alerted (never shown to the visitor)


@attrs.frozen
class _Hold:
    meeting_id: str
    agent: str
    previous_agent: str | None
    turn: int


async def release_stale_holds(app: Chinwag) -> int:
    """Delete ``pending`` holds older than ``STALE_HOLD`` (their booking died); return how many."""
    cutoff = utcnow() - STALE_HOLD
    stale = (meetings.c.status == "pending") & (meetings.c.created_at < cutoff)
    async with app.store.transaction() as connection:
        await connection.execute(sa.delete(meeting_claims).where(
            meeting_claims.c.meeting_id.in_(sa.select(meetings.c.id).where(stale))))
        released = (await connection.execute(sa.delete(meetings).where(stale))).rowcount
    if released:
        log.warning("released %d meeting hold(s) left by a booking that never finished", released)
    return released


async def book(app: Chinwag, request: BookingRequest) -> BookingResult:
    """Book the meeting; see the module notes for the steps."""
    await release_stale_holds(app)
    existing = await _meeting_by_key(app, request.idempotency_key)
    if existing is not None and existing["status"] in LIVE and existing["status"] != "pending":
        return BookingResult("booked", existing)  # a replayed turn: the booking is already made
    tried: set[str] = set()
    agent_lost = False  # an agent free at this time could not be used at all (revoked grant)
    while True:
        hold = await _hold(app, request, tried)
        if hold is None:
            return BookingResult("unavailable" if agent_lost else "taken")
        tried.add(hold.agent)
        try:
            created = await with_grant(app, hold.agent, lambda provider, grant: _check_and_create(app, provider, grant, request, hold))
        except CalendarError as error:
            log.warning("booking with %s failed: %s", hold.agent, error)
            await release(app, request.decision.queue, hold)
            return BookingResult("failed", message=OUTAGE_MESSAGE, agent=hold.agent, reason=str(error))
        except BaseException:
            await release(app, request.decision.queue, hold)
            raise
        if created is None or created is AGENT_BUSY:  # a revoked grant, or a clash the offer did not know
            agent_lost = agent_lost or created is None
            await release(app, request.decision.queue, hold)
            continue
        return BookingResult("booked", await _confirm(app, request, hold, created))


async def _check_and_create(app: Chinwag, provider: Any, grant: Any, request: BookingRequest, hold: _Hold) -> Any:
    agent = meeting_settings(app).agents[hold.agent]
    buffer = dt.timedelta(minutes=agent.availability.buffer_after)
    busy = await provider.busy(app, grant, request.start - buffer, request.end + buffer)
    if busy:
        return AGENT_BUSY
    context = _template_context(app, request, hold)
    event = EventRequest(
        idempotency_key=request.idempotency_key, start=request.start, end=request.end,
        summary=render_summary(app, context), description=render_invitation(app, agent, context),
        attendee_email=str(request.lead.get("lead.email")), attendee_name=context["lead"].get("firstName") or None,
        time_zone=agent.time_zone, online_meeting=request.online_meeting,
    )
    await note_unconfirmed(app, request.idempotency_key, hold.agent, request.start, request.end)
    return await provider.create_event(app, grant, event)


def _template_context(app: Chinwag, request: BookingRequest, hold: _Hold) -> dict[str, Any]:
    """Tokens for the invitation: ``lead.*``, ``company.*``, ``agent.*`` and ``meeting.*``."""
    agent = meeting_settings(app).agents[hold.agent]
    nested: dict[str, dict[str, Any]] = {"lead": {}, "company": {}}
    for name, value in request.lead.items():
        group, _, field = name.partition(".")
        if group in nested:
            nested[group][field] = value
    return {
        **nested,
        "agent": {"email": agent.email, "name": agent.name, "time_zone": agent.time_zone},
        "meeting": {
            "id": hold.meeting_id, "start": request.start, "end": request.end,
            "duration": int((request.end - request.start).total_seconds() // 60),
            "agent_time": request.start.astimezone(ZoneInfo(agent.time_zone)),
            "visitor_time": request.start.astimezone(ZoneInfo(request.visitor_time_zone)),
            "visitor_time_zone": request.visitor_time_zone, "page_url": request.page_url,
        },
    }


async def _hold(app: Chinwag, request: BookingRequest, tried: set[str]) -> _Hold | None:
    """Claim the time for the first agent the strategy names who is still free; None if nobody is."""
    queue = request.decision.queue
    await _ensure_pointer(app, queue)
    for _ in range(HOLD_ATTEMPTS):
        try:
            async with app.store.transaction() as connection:
                return await _hold_locked(app, connection, request, tried)
        except IntegrityError:
            continue  # another queue's booking claimed one of this agent's cells first: look again
    return None


async def _hold_locked(app: Chinwag, connection: Any, request: BookingRequest, tried: set[str]) -> _Hold | None:
    settings = meeting_settings(app)
    queue = request.decision.queue
    # An UPDATE first: a row lock on PostgreSQL, the database's write lock on SQLite. Every
    # booking of this queue waits here, so the pointer is read and moved by one at a time.
    await connection.execute(sa.update(routing_pointers).where(routing_pointers.c.queue == queue).values(
        turns=routing_pointers.c.turns + 1))
    pointer = (await connection.execute(sa.select(routing_pointers).where(routing_pointers.c.queue == queue))).one()
    candidates = [agent for agent in request.agents if agent not in tried and agent in settings.agents]
    cells = {agent: claim_cells(request.start, request.end + dt.timedelta(minutes=settings.agents[agent].availability.buffer_after))
             for agent in candidates}
    if not candidates:
        return None
    rows = await connection.execute(sa.select(meeting_claims.c.agent_email, meeting_claims.c.cell).where(
        meeting_claims.c.agent_email.in_(candidates),
        meeting_claims.c.cell.between(min(c[0] for c in cells.values()), max(c[-1] for c in cells.values()))))
    claimed: dict[str, set[dt.datetime]] = {}
    for row in rows:
        claimed.setdefault(row.agent_email, set()).add(_aware(row.cell))
    free = tuple(agent for agent in candidates if not claimed.get(agent, set()) & set(cells[agent]))
    if not free:
        return None
    strategy = app.routing_strategies[request.decision.strategy]

    async def meetings_since(since: dt.datetime | None) -> dict[str, int]:
        query = sa.select(meetings.c.agent_email, sa.func.count()).where(
            meetings.c.agent_email.in_(request.decision.agents), meetings.c.status.in_(LIVE)).group_by(meetings.c.agent_email)
        if since is not None:
            query = query.where(meetings.c.created_at >= since)
        return {row[0]: row[1] for row in await connection.execute(query)}

    in_queue_order = (await connection.execute(sa.select(agent_rows.c.email).where(
        agent_rows.c.email.in_(request.decision.agents)).order_by(agent_rows.c.position))).scalars()
    ordered = await strategy.choose(RoutingContext(
        queue=queue, agents=tuple(in_queue_order), candidates=free,
        last_agent=pointer.last_agent, weights={a: settings.agents[a].weight for a in free},
        period_start=period_start(utcnow(), settings.period), meetings_since=meetings_since, lead=dict(request.lead)))
    if not ordered:
        return None
    agent, now, meeting_id = ordered[0], utcnow(), new_id("m")
    await connection.execute(sa.insert(meetings).values(
        id=meeting_id, idempotency_key=request.idempotency_key, agent_email=agent, queue=queue, status="pending",
        start=request.start, end=request.end, lead_email=request.lead.get("lead.email"),
        lead_name=" ".join(str(request.lead[k]) for k in ("lead.firstName", "lead.lastName") if request.lead.get(k)) or None,
        session_id=request.session_id, dialogue_id=request.dialogue_id, page_url=request.page_url,
        created_at=now, updated_at=now))
    await connection.execute(sa.insert(meeting_claims), [
        {"agent_email": agent, "cell": cell, "meeting_id": meeting_id} for cell in cells[agent]])
    await connection.execute(sa.update(routing_pointers).where(routing_pointers.c.queue == queue).values(last_agent=agent))
    return _Hold(meeting_id, agent, pointer.last_agent, pointer.turns)


async def _ensure_pointer(app: Chinwag, queue: str) -> None:
    async with app.store.connect() as connection:
        exists = (await connection.execute(sa.select(routing_pointers.c.queue).where(routing_pointers.c.queue == queue))).first()
    if exists is None:
        try:
            async with app.store.transaction() as connection:
                await connection.execute(sa.insert(routing_pointers).values(queue=queue, last_agent=None, turns=0))
        except IntegrityError:
            pass  # another booking created it at the same moment


async def release(app: Chinwag, queue: str, hold: _Hold) -> None:
    """Undo a hold: delete the meeting and its claims; give the turn back if nobody moved since."""
    async with app.store.transaction() as connection:
        await connection.execute(sa.delete(meeting_claims).where(meeting_claims.c.meeting_id == hold.meeting_id))
        await connection.execute(sa.delete(meetings).where(meetings.c.id == hold.meeting_id))
        await connection.execute(sa.update(routing_pointers).where(
            routing_pointers.c.queue == queue, routing_pointers.c.turns == hold.turn,
            routing_pointers.c.last_agent == hold.agent).values(last_agent=hold.previous_agent))


async def _confirm(app: Chinwag, request: BookingRequest, hold: _Hold, created: Any) -> dict[str, Any]:
    async with app.store.transaction() as connection:
        await connection.execute(sa.update(meetings).where(meetings.c.id == hold.meeting_id).values(
            status="scheduled", remote_id=created.remote_id, join_url=created.join_url, updated_at=utcnow()))
        await forget_unconfirmed(connection, request.idempotency_key, hold.agent)
        row = (await connection.execute(sa.select(meetings).where(meetings.c.id == hold.meeting_id))).one()
    return dict(row._mapping)


async def _meeting_by_key(app: Chinwag, key: str) -> dict[str, Any] | None:
    async with app.store.connect() as connection:
        row = (await connection.execute(sa.select(meetings).where(meetings.c.idempotency_key == key))).first()
    return dict(row._mapping) if row is not None else None


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)

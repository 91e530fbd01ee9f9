"""Agents' schedules saved outside chinwag.yaml: weekly hours, time zone, meeting length, buffer,
minimum notice and horizon, as an agent sets them in a console (or ``chinwag agents schedule``).

chinwag.yaml lists the agents and gives each a schedule; a saved schedule replaces those keys for
its agent until it is cleared. It is checked by the same rules as chinwag.yaml before anything is
stored, kept as one JSON document per agent in ``agent_schedules``, and read again before slots
are offered, so every process offers what was saved last. A stored document that no longer
passes the checks (a time zone the system's database dropped) is logged and chinwag.yaml's
schedule applies: it never stops the server.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from ..scheduling import AgentAvailability
from ..store import utcnow
from .agents import SCHEDULE_NUMBERS, WEEKDAYS, Agent, read_availability
from .state import MeetingsState
from .tables import agent_schedules

if TYPE_CHECKING:
    from ..app import Chinwag
    from .settings import MeetingSettings

log = logging.getLogger("chinwag.meetings.schedules")
SCHEDULE_KEYS = ("time_zone", "availability", *SCHEDULE_NUMBERS)


@attrs.frozen
class SavedSchedule:
    """A schedule stored for one agent: the keys it sets, who saved it and when."""

    email: str
    values: Mapping[str, Any]
    updated_by: str | None
    updated_at: dt.datetime


@attrs.frozen
class ScheduleProblem:
    """Why a schedule was refused: the key (``duration``, ``availability``...) and what is wrong."""

    key: str
    message: str


def schedule_of(availability: AgentAvailability) -> dict[str, Any]:
    """An agent's schedule in chinwag.yaml's shape: ``{time_zone, availability: {monday: ["09:00-12:00"]}, ...}``."""
    week: dict[str, list[str]] = {}
    for block in sorted(availability.blocks, key=lambda b: (b.weekday, b.start)):
        end = "24:00" if block.end == dt.time(0) else block.end.strftime("%H:%M")
        week.setdefault(WEEKDAYS[block.weekday], []).append(f"{block.start.strftime('%H:%M')}-{end}")
    shape: dict[str, Any] = {"time_zone": availability.time_zone, "availability": week,
                             "duration": availability.duration, "buffer_after": availability.buffer_after,
                             "minimum_notice": availability.minimum_notice, "horizon_days": availability.horizon_days}
    if availability.slot_step is not None:
        shape["slot_step"] = availability.slot_step
    return shape


def check_schedule(agent: Agent, values: Mapping[str, Any]) -> tuple[AgentAvailability | None, list[ScheduleProblem]]:
    """``values`` laid over the agent's chinwag.yaml schedule, checked by chinwag.yaml's rules."""
    problems: list[ScheduleProblem] = []
    if not isinstance(values, Mapping):
        return None, [ScheduleProblem("", "a schedule is a mapping of " + ", ".join(SCHEDULE_KEYS))]
    for key in sorted(set(values) - set(SCHEDULE_KEYS), key=str):
        problems.append(ScheduleProblem(str(key), f"cannot be set here (known: {', '.join(SCHEDULE_KEYS)})"))
    merged = {**schedule_of(agent.availability), **values}
    availability = read_availability(merged, lambda key, message: problems.append(ScheduleProblem(key, message)))
    return (availability if not problems else None), problems


async def saved_schedules(app: Chinwag) -> dict[str, SavedSchedule]:
    """Every stored schedule, by agent email (whether or not chinwag.yaml still lists the agent)."""
    async with app.store.connect() as connection:
        rows = (await connection.execute(sa.select(agent_schedules))).all()
    found = {}
    for row in rows:
        try:
            values = json.loads(row.schedule)
        except ValueError:
            values = None
        if not isinstance(values, dict):
            log.warning("the saved schedule of %s cannot be read; chinwag.yaml's applies", row.email)
            continue
        found[row.email] = SavedSchedule(row.email, values, row.updated_by, row.updated_at)
    return found


def with_schedules(configured: MeetingSettings, saved: Mapping[str, SavedSchedule]) -> MeetingSettings:
    """chinwag.yaml's settings with each listed agent's saved schedule in place of its own."""
    agents = dict(configured.agents)
    for email, schedule in saved.items():
        agent = agents.get(email)
        if agent is None:
            continue
        availability, problems = check_schedule(agent, schedule.values)
        if availability is None:
            log.warning("the saved schedule of %s no longer holds (%s); chinwag.yaml's applies", email,
                        "; ".join(f"{p.key}: {p.message}" for p in problems))
            continue
        agents[email] = attrs.evolve(agent, availability=availability)
    return attrs.evolve(configured, agents=agents)


async def refresh_schedules(app: Chinwag) -> MeetingSettings:
    """Read the saved schedules again and apply them to the app's meeting settings; return those.

    Called before slots are offered and a meeting is moved, so a schedule saved in another
    process holds here too: one read of a table with a row per agent at most.
    """
    from .settings import meeting_settings

    meeting_settings(app)  # parse chinwag.yaml first when nothing has
    state = app.plugin_state(MeetingsState)
    state.saved = await saved_schedules(app)
    assert state.configured is not None
    state.settings = with_schedules(state.configured, state.saved)
    return state.settings


def schedule_problems(app: Chinwag, email: str, values: Mapping[str, Any]) -> list[ScheduleProblem]:
    """What is wrong with ``values`` as the agent's schedule (nothing when it could be saved).
    Raises ``LookupError`` for an agent chinwag.yaml does not list."""
    from .settings import meeting_settings

    meeting_settings(app)  # parse chinwag.yaml first when nothing has
    configured = app.plugin_state(MeetingsState).configured
    agent = configured.agents.get(email.lower()) if configured else None
    if agent is None:
        raise LookupError(f"{email} is not listed under agents: in chinwag.yaml")
    return check_schedule(agent, values)[1]


async def save_schedule(app: Chinwag, email: str, values: Mapping[str, Any], by: str | None) -> list[ScheduleProblem]:
    """Check ``values`` (keys of ``SCHEDULE_KEYS``) for the agent and store them; return the
    problems instead when there are any (nothing is stored then). Raises ``LookupError`` for an
    agent chinwag.yaml does not list."""
    from .settings import meeting_settings

    email = email.lower()
    problems = schedule_problems(app, email, values)
    if problems:
        return problems
    document = json.dumps({key: values[key] for key in SCHEDULE_KEYS if key in values}, sort_keys=True)
    async with app.store.transaction() as connection:
        await connection.execute(sa.delete(agent_schedules).where(agent_schedules.c.email == email))
        await connection.execute(sa.insert(agent_schedules).values(
            email=email, schedule=document, updated_by=by, updated_at=utcnow()))
    await refresh_schedules(app)
    return []


async def clear_schedule(app: Chinwag, email: str) -> bool:
    """Forget the agent's saved schedule (chinwag.yaml's applies again); False when none was saved."""
    async with app.store.transaction() as connection:
        result = await connection.execute(sa.delete(agent_schedules).where(agent_schedules.c.email == email.lower()))
    await refresh_schedules(app)
    return bool(result.rowcount)

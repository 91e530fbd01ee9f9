"""What the console shows about agents: chinwag.yaml's ``agents:`` with each agent's saved schedule
over it, as the meetings plugin applies them (``chinwag.meetings.settings.meeting_settings`` and
``chinwag.meetings.schedules``, doors any plugin has), typed for the pages."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import attrs
from chinwag.meetings.agents import WEEKDAYS
from chinwag.meetings.schedules import schedule_of
from chinwag.meetings.settings import meeting_settings
from chinwag.meetings.state import MeetingsState

if TYPE_CHECKING:
    from chinwag.app import Chinwag


@attrs.frozen
class AgentSettings:
    """One agent's settings in force, and whether their schedule was saved outside chinwag.yaml."""

    email: str
    name: str
    provider: str
    time_zone: str
    availability: tuple[tuple[str, str], ...]  # (weekday, "09:00-12:00, 13:00-17:00") for the days with hours
    duration: int
    buffer_after: int
    minimum_notice: int
    horizon_days: int
    calendar_owner: str
    saved_by: str | None = None  # who saved the schedule in force (None: chinwag.yaml's, or the command line)
    saved_at: dt.datetime | None = None  # when; None when chinwag.yaml's applies

    def hours(self, day: str) -> str:
        """The day's hours as the form shows them ("" for a day off)."""
        return dict(self.availability).get(day, "")


def agent_settings(app: Chinwag) -> dict[str, AgentSettings]:
    """Every agent listed under ``agents:``, by email, in the order written, with the schedules
    as last read (``refresh_schedules`` reads them again)."""
    saved = app.plugin_state(MeetingsState).saved
    found: dict[str, AgentSettings] = {}
    for email, agent in meeting_settings(app).agents.items():
        shape = schedule_of(agent.availability)
        record = saved.get(email)
        found[email] = AgentSettings(
            email=email, name=agent.name, provider=agent.provider, time_zone=agent.time_zone,
            availability=tuple((day, ", ".join(shape["availability"][day])) for day in WEEKDAYS
                               if day in shape["availability"]),
            duration=agent.availability.duration, buffer_after=agent.availability.buffer_after,
            minimum_notice=agent.availability.minimum_notice, horizon_days=agent.availability.horizon_days,
            calendar_owner=agent.calendar_owner, saved_by=record.updated_by if record else None,
            saved_at=record.updated_at if record else None)
    return found

"""What the console reads about agents from chinwag.yaml's ``agents:`` section (a plugin's public
door: ``app.config.sections``), typed for the pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from chinwag.app import Chinwag

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@attrs.frozen
class AgentSettings:
    """One agent's settings as chinwag.yaml gives them."""

    email: str
    name: str
    provider: str
    time_zone: str
    availability: tuple[tuple[str, str], ...]  # (weekday, "09:00-12:00, 13:00-17:00")
    duration: int
    buffer_after: int
    minimum_notice: int
    horizon_days: int
    calendar_owner: str


def agent_settings(app: Chinwag) -> dict[str, AgentSettings]:
    """Every agent listed under ``agents:``, by email, in the order written."""
    found: dict[str, AgentSettings] = {}
    for item in app.config.sections.get("agents") or []:
        if not isinstance(item, Mapping) or not item.get("email"):
            continue
        email = str(item["email"]).strip().lower()
        found[email] = AgentSettings(
            email=email, name=str(item.get("name") or email), provider=str(item.get("provider") or ""),
            time_zone=str(item.get("time_zone") or "UTC"), availability=_availability(item.get("availability")),
            duration=int(item.get("duration") or 30), buffer_after=int(item.get("buffer_after") or 0),
            minimum_notice=int(item.get("minimum_notice") or 0), horizon_days=int(item.get("horizon_days") or 14),
            calendar_owner=str(item.get("calendar_owner") or email).lower())
    return found


def _availability(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        return ()
    days = {str(day).lower(): spans for day, spans in value.items()}
    return tuple((day, ", ".join(str(s) for s in (days[day] if isinstance(days[day], list) else [days[day]])))
                 for day in WEEKDAYS if day in days)

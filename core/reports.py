"""Reports: per-dialogue activity counts with the reference product's metrics."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .store import utcnow
from .tables import events

if TYPE_CHECKING:
    from .app import Chinwag


def reported_event_types(app: Chinwag) -> list[str]:
    """The event types reports count: every registered type marked ``reported``, in registration order."""
    return [event_type.name for event_type in app.event_types if event_type.reported]


async def dialogue_report(app: Chinwag, days: int = 90) -> dict[str, Any]:
    """Counts per dialogue over the last ``days`` days, with engagement and conversion rates.

    Counted: each reported event type (core's and plugins', such as ``meeting_booked``).
    Engagement rate = engaged / triggered; conversion rate = leads captured / engaged.
    """
    assert app.store is not None, "the app has not started"
    counted = reported_event_types(app)
    since = utcnow() - dt.timedelta(days=days)
    query = (sa.select(events.c.dialogue_id, events.c.name, sa.func.count())
             .where(events.c.created_at >= since, events.c.name.in_(counted))
             .group_by(events.c.dialogue_id, events.c.name))
    async with app.store.connect() as connection:
        rows = (await connection.execute(query)).all()
    dialogues: dict[str, dict[str, Any]] = {}
    for dialogue_id, name, count in rows:
        dialogues.setdefault(dialogue_id, dict.fromkeys(counted, 0))[name] = count
    for counts in dialogues.values():
        counts["engagement_rate"] = _rate(counts.get("engaged", 0), counts.get("triggered", 0))
        counts["conversion_rate"] = _rate(counts.get("lead_captured", 0), counts.get("engaged", 0))
    return {"since": since.isoformat(), "days": days, "counted": counted, "dialogues": dict(sorted(dialogues.items()))}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None

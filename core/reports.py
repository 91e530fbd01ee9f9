"""Reports: per-dialogue activity counts with the reference product's metrics."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from .store import Store, utcnow
from .tables import events

COUNTED = ("triggered", "engaged", "completed", "lead_captured", "goal_reached", "meeting_booked")


async def dialogue_report(store: Store, days: int = 90) -> dict[str, Any]:
    """Counts per dialogue over the last ``days`` days, with engagement and conversion rates.

    Engagement rate = engaged / triggered; conversion rate = leads captured / engaged.
    """
    since = utcnow() - dt.timedelta(days=days)
    query = (sa.select(events.c.dialogue_id, events.c.name, sa.func.count())
             .where(events.c.created_at >= since, events.c.name.in_(COUNTED))
             .group_by(events.c.dialogue_id, events.c.name))
    async with store.connect() as connection:
        rows = (await connection.execute(query)).all()
    dialogues: dict[str, dict[str, Any]] = {}
    for dialogue_id, name, count in rows:
        dialogues.setdefault(dialogue_id, dict.fromkeys(COUNTED, 0))[name] = count
    for counts in dialogues.values():
        counts["engagement_rate"] = round(counts["engaged"] / counts["triggered"], 4) if counts["triggered"] else None
        counts["conversion_rate"] = round(counts["lead_captured"] / counts["engaged"], 4) if counts["engaged"] else None
    return {"since": since.isoformat(), "days": days, "dialogues": dict(sorted(dialogues.items()))}

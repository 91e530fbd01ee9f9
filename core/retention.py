"""Retention: deleting what is older than the project keeps."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from .store import Store, utcnow
from .tables import events, sessions, transcript, visitors


async def purge_older_than(store: Store, days: int) -> dict[str, int]:
    """Delete sessions idle for ``days`` (with their transcripts and events) and visitors unseen
    for as long who have no session left; return how many rows of each went."""
    cutoff = utcnow() - dt.timedelta(days=days)
    old_sessions = sa.select(sessions.c.id).where(sessions.c.updated_at < cutoff)
    async with store.transaction() as connection:
        counts = {
            "transcript": (await connection.execute(sa.delete(transcript).where(transcript.c.session_id.in_(old_sessions)))).rowcount,
            "events": (await connection.execute(sa.delete(events).where(
                sa.or_(events.c.session_id.in_(old_sessions), events.c.created_at < cutoff)))).rowcount,
            "sessions": (await connection.execute(sa.delete(sessions).where(sessions.c.updated_at < cutoff))).rowcount,
        }
        counts["visitors"] = (await connection.execute(sa.delete(visitors).where(
            visitors.c.last_seen_at < cutoff,
            ~sa.exists().where(sessions.c.visitor_id == visitors.c.id)))).rowcount
    return counts

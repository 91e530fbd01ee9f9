"""Retention: deleting what is older than the project keeps, by kind of data.

The defaults follow the reference product (anonymous visitors without engagement and reporting
data: 90 days; goal and meeting activity: 24 months), and every one is a setting of
``retention:`` in chinwag.yaml (``RetentionPolicy``). ``purge`` applies them in one transaction:

* anonymous visitors (no email, typed or known from a CRM) unseen for ``anonymous_days`` go,
  with their sessions, transcripts, events and outbox rows (an engagement still waiting for an
  email among them);
* known visitors unseen for ``known_visitor_days`` go likewise (kept for good by default: the
  CRM has them anyway);
* sessions idle for ``conversation_days`` go with their transcripts;
* events older than ``reporting_days`` go, except activity (event types with ``activity``:
  goals, meetings), which stays ``activity_days``; so do the CRM activities synced in, and the
  daily report counts likewise;
* delivered and skipped outbox items older than ``outbox_days`` go (dead ones wait for the
  operator);
* each plugin purges its own rows through the ``purge_expired`` hook, in the same transaction
  (the meetings plugin: meetings that ended ``activity_days`` ago).

``chinwag purge`` runs it; every ``chinwag serve`` schedules it every ``purge_every`` seconds,
one process at a time (``chinwag.schedule``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from .crm_records import crm_activities
from .outbox import DELIVERED, SKIPPED, outbox
from .report_rollup import report_counts
from .store import utcnow
from .tables import events, sessions, transcript, visitors

if TYPE_CHECKING:
    from .app import Chinwag


CHUNK = 500  # visitors removed per group of statements


@attrs.frozen
class RetentionPolicy:
    """How many days each kind of data is kept (None: for good), and how often serving processes purge."""

    anonymous_days: int | None = 90
    conversation_days: int | None = 90
    reporting_days: int | None = 90
    activity_days: int | None = 730
    known_visitor_days: int | None = None
    outbox_days: int | None = 30
    purge_every: float = 86_400.0  # seconds; 0: no scheduled purge

    def cutoff(self, days: int | None, now: dt.datetime) -> dt.datetime | None:
        """The moment before which data kept ``days`` days goes (None: kept for good)."""
        return None if days is None else now - dt.timedelta(days=days)


def policy_of(app: Chinwag) -> RetentionPolicy:
    """The project's retention policy (``retention:`` in chinwag.yaml over the defaults)."""
    return RetentionPolicy(**app.config.retention)


async def purge(app: Chinwag, policy: RetentionPolicy | None = None, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete what ``policy`` (the project's by default) no longer keeps; return how many rows of
    each kind went."""
    assert app.store is not None, "the app has not started"
    policy = policy or policy_of(app)
    now = now or utcnow()
    activity_types = [event_type.name for event_type in app.event_types if getattr(event_type, "activity", False)]
    counts: dict[str, int] = {}

    def add(name: str, result: Any) -> None:
        counts[name] = counts.get(name, 0) + int(result.rowcount or 0)

    async with app.store.transaction() as connection:
        expired = _expired_visitors(policy, now)
        ids = [] if expired is None else list((await connection.execute(expired)).scalars())
        for start in range(0, len(ids), CHUNK):  # a bounded number of parameters per statement
            gone_visitors = ids[start:start + CHUNK]
            their_sessions = sa.select(sessions.c.id).where(sessions.c.visitor_id.in_(gone_visitors))
            add("transcript", await connection.execute(sa.delete(transcript).where(
                transcript.c.session_id.in_(their_sessions))))
            add("events", await connection.execute(sa.delete(events).where(sa.or_(
                events.c.visitor_id.in_(gone_visitors), events.c.session_id.in_(their_sessions)))))
            add("outbox", await connection.execute(sa.delete(outbox).where(outbox.c.ordering_key.in_(gone_visitors))))
            add("sessions", await connection.execute(sa.delete(sessions).where(sessions.c.visitor_id.in_(gone_visitors))))
            add("visitors", await connection.execute(sa.delete(visitors).where(visitors.c.id.in_(gone_visitors))))
        if (cutoff := policy.cutoff(policy.conversation_days, now)) is not None:
            idle = sa.select(sessions.c.id).where(sessions.c.updated_at < cutoff)
            add("transcript", await connection.execute(sa.delete(transcript).where(transcript.c.session_id.in_(idle))))
            # Events outlive their session on their own terms below: detach them first (a cascade
            # would take a goal's activity along at 90 days).
            await connection.execute(sa.update(events).where(events.c.session_id.in_(idle)).values(session_id=None))
            add("sessions", await connection.execute(sa.delete(sessions).where(sessions.c.updated_at < cutoff)))
        activity_counts = sa.and_(report_counts.c.kind == "event", report_counts.c.measure.in_(activity_types))
        if (cutoff := policy.cutoff(policy.reporting_days, now)) is not None:
            add("events", await connection.execute(sa.delete(events).where(
                events.c.created_at < cutoff, events.c.name.not_in(activity_types))))
            add("report counts", await connection.execute(sa.delete(report_counts).where(
                report_counts.c.day < cutoff.date(), sa.not_(activity_counts))))
        if (cutoff := policy.cutoff(policy.activity_days, now)) is not None:
            add("events", await connection.execute(sa.delete(events).where(
                events.c.created_at < cutoff, events.c.name.in_(activity_types))))
            add("crm activities", await connection.execute(sa.delete(crm_activities).where(
                crm_activities.c.occurred_at < cutoff)))
            add("report counts", await connection.execute(sa.delete(report_counts).where(
                report_counts.c.day < cutoff.date(), activity_counts)))
        if (cutoff := policy.cutoff(policy.outbox_days, now)) is not None:
            add("outbox", await connection.execute(sa.delete(outbox).where(
                outbox.c.state.in_([DELIVERED, SKIPPED]), outbox.c.updated_at < cutoff)))
        for _, result in await app.plugins.acall("purge_expired", policy=policy, now=now, connection=connection,
                                                 app=app):
            if isinstance(result, Mapping):
                for name, count in result.items():
                    counts[str(name)] = counts.get(str(name), 0) + int(count)
    return counts


def _expired_visitors(policy: RetentionPolicy, now: dt.datetime) -> sa.Select[Any] | None:
    """The ids of anonymous visitors unseen for ``anonymous_days`` and known ones unseen for
    ``known_visitor_days`` (None when both are kept for good)."""

    def no(name: str) -> sa.ColumnElement[bool]:
        value = visitors.c.lead[name].as_string()
        return sa.or_(value.is_(None), value == "")

    anonymous = sa.and_(no("lead.email"), no("person.email"))
    chosen = []
    if (cutoff := policy.cutoff(policy.anonymous_days, now)) is not None:
        chosen.append(sa.and_(anonymous, visitors.c.last_seen_at < cutoff))
    if (cutoff := policy.cutoff(policy.known_visitor_days, now)) is not None:
        chosen.append(sa.and_(sa.not_(anonymous), visitors.c.last_seen_at < cutoff))
    return sa.select(visitors.c.id).where(sa.or_(*chosen)) if chosen else None


def schedule_purge(app: Chinwag) -> None:
    """Add the purge to ``app.schedule``, every ``retention.purge_every`` seconds."""

    async def run() -> str | None:
        counts = await purge(app)
        removed = {name: count for name, count in counts.items() if count}
        return f"removed {json.dumps(removed)}" if removed else None

    app.schedule.add("retention-purge", policy_of(app).purge_every, run)

"""Daily report counts, rolled up from the events so reports stay fast over millions of them.

``roll_up`` reads the events stored since the last roll-up (by id, up to those older than
``SETTLE``, so a turn still committing is not passed over), counts them per UTC day, dialogue and
what a report shows, and adds the counts to ``report_counts`` in the same transaction that moves
the mark in ``report_progress``: each event is counted once, whoever rolls up. Serving processes
roll up every ``EVERY`` seconds (a job of ``app.schedule``); ``chinwag report`` catches up first.

What is counted, as (kind, key, measure):

* ("event", "", <event type>): every reported event;
* ("card", <card id>, "answered"): answers per question card;
* ("page", <page without query>, "triggered" | "engaged" | "completed") and
  ("version", <version>, ...): the session's first page and dialogue version;
* ("visitors", "known" | "anonymous", "triggered"): whether the visitor had an email when the
  dialogue was triggered (when it was rolled up, a minute or so later).

Reports add the counts of whole days to a live count of what the roll-up has not reached and
of the partial days at the ends of the period (``chinwag.reports``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .store import Store, utc, utcnow
from .tables import events, sessions, visitors

if TYPE_CHECKING:
    from .app import Chinwag

metadata = sa.MetaData()

report_counts = sa.Table(
    "report_counts",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),  # UTC
    sa.Column("dialogue_id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(20), primary_key=True),
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("measure", sa.String(60), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

report_progress = sa.Table(
    "report_progress",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("last_event_id", sa.BigInteger, nullable=False),  # every event up to it is counted
)

SETTLE = dt.timedelta(seconds=60)  # events younger than this wait for the next roll-up
CHUNK = 50_000  # events per roll-up transaction
EVERY = 60.0  # seconds between scheduled roll-ups
BREAKDOWN_EVENTS = ("triggered", "engaged", "completed")  # counted per page and version
Key = tuple[dt.date, str, str, str, str]


def page_of(url: str | None) -> str:
    """The page a session started on, without its query string or fragment ("-" when unknown)."""
    if not url:
        return "-"
    parts = urlsplit(url)
    return (f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path or "-")[:500]


def has_email() -> sa.ColumnElement[bool]:
    """Whether a visitor's lead carries an email (typed, or known from a CRM)."""
    def present(name: str) -> sa.ColumnElement[bool]:
        value = visitors.c.lead[name].as_string()
        return sa.and_(value.is_not(None), value != "")

    return sa.or_(present("lead.email"), present("person.email"))


async def count_events(connection: Any, where: sa.ColumnElement[bool], counted: Iterable[str]) -> Counter[Key]:
    """The report counts of the events matching ``where``, per UTC day (see the module's list)."""
    counts: Counter[Key] = Counter()
    counted = list(counted)
    day = _day
    query = (sa.select(events.c.created_at, events.c.dialogue_id, events.c.name, sa.func.count())
             .where(where, events.c.name.in_(counted))
             .group_by(events.c.created_at, events.c.dialogue_id, events.c.name))
    # Grouped by the instant first (cheap and exact on both databases), then by day here.
    for created_at, dialogue_id, name, count in await connection.execute(query):
        counts[(day(created_at), dialogue_id, "event", "", name)] += count
    card = events.c.data["card"].as_string()
    answered = (sa.select(events.c.created_at, events.c.dialogue_id, card, sa.func.count())
                .where(where, events.c.name == "answered").group_by(events.c.created_at, events.c.dialogue_id, card))
    for created_at, dialogue_id, card_id, count in await connection.execute(answered):
        if card_id:
            counts[(day(created_at), dialogue_id, "card", str(card_id)[:500], "answered")] += count
    known = sa.case((has_email(), True), else_=False)
    breakdown = (sa.select(events.c.created_at, events.c.dialogue_id, events.c.name, sessions.c.page_url,
                           sessions.c.dialogue_version, known)
                 .select_from(events.join(sessions, sessions.c.id == events.c.session_id)
                              .join(visitors, visitors.c.id == sessions.c.visitor_id))
                 .where(where, events.c.name.in_(BREAKDOWN_EVENTS)))
    for created_at, dialogue_id, name, page_url, version, is_known in await connection.execute(breakdown):
        when = day(created_at)
        counts[(when, dialogue_id, "page", page_of(page_url), name)] += 1
        counts[(when, dialogue_id, "version", str(version), name)] += 1
        if name == "triggered":
            counts[(when, dialogue_id, "visitors", "known" if is_known else "anonymous", "triggered")] += 1
    return counts


def _day(moment: dt.datetime) -> dt.date:
    return utc(moment).date()  # type: ignore[union-attr]


async def roll_up(store: Store, counted: Iterable[str], chunk: int = CHUNK, now: dt.datetime | None = None) -> int:
    """Count the events not yet rolled up (up to ``chunk`` of them, settled ones only) into
    ``report_counts``, moving the mark in the same transaction; return how many events."""
    settled = (now or utcnow()) - SETTLE
    async with store.transaction() as connection:
        if connection.dialect.name == "postgresql":  # one roll-up at a time: the others wait, then see the new mark
            await connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('chinwag-report-rollup'))"))
        insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(report_progress)
        await connection.execute(insert.values(name="events", last_event_id=0).on_conflict_do_nothing())
        mark = (await connection.execute(sa.select(report_progress.c.last_event_id).where(
            report_progress.c.name == "events"))).scalar_one()
        upper = (await connection.execute(sa.select(sa.func.max(events.c.id)).where(
            events.c.id > mark, events.c.id <= mark + chunk, events.c.created_at < settled))).scalar()
        if upper is None:
            return 0
        counts = await count_events(connection, sa.and_(events.c.id > mark, events.c.id <= upper), counted)
        await add_counts(connection, counts)
        await connection.execute(sa.update(report_progress).where(report_progress.c.name == "events")
                                 .values(last_event_id=upper))
    return int(upper - mark)


async def add_counts(connection: Any, counts: Mapping[Key, int]) -> None:
    """Add ``counts`` to ``report_counts`` (INSERT ... ON CONFLICT DO UPDATE count = count + new)."""
    if not counts:
        return
    insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(report_counts)
    statement = insert.on_conflict_do_update(
        index_elements=["day", "dialogue_id", "kind", "key", "measure"],
        set_={"count": report_counts.c.count + insert.excluded["count"]})
    await connection.execute(statement, [
        {"day": day, "dialogue_id": dialogue_id, "kind": kind, "key": key, "measure": measure, "count": count}
        for (day, dialogue_id, kind, key, measure), count in counts.items()])


async def catch_up(store: Store, counted: Iterable[str]) -> int:
    """Roll up until every settled event is counted; return how many events were. On SQLite,
    refresh the planner's statistics too when they are stale (``PRAGMA optimize``), so report
    queries take the period's index rather than the event type's."""
    counted, total = list(counted), 0
    while rolled := await roll_up(store, counted):
        total += rolled
    if store.engine.dialect.name == "sqlite":
        async with store.transaction() as connection:
            await connection.execute(sa.text("PRAGMA optimize"))
    return total


async def mark(connection: Any) -> int:
    """The id of the last event counted in ``report_counts`` (0 before the first roll-up)."""
    value = (await connection.execute(sa.select(report_progress.c.last_event_id).where(
        report_progress.c.name == "events"))).scalar()
    return int(value or 0)


def schedule_roll_up(app: Chinwag) -> None:
    """Roll up every ``EVERY`` seconds in the serving processes (a job of ``app.schedule``)."""
    from .reports import reported_event_types

    async def run() -> str | None:
        assert app.store is not None
        rolled = await catch_up(app.store, reported_event_types(app))
        return f"counted {rolled} events" if rolled else None

    app.schedule.add("report-rollup", EVERY, run)

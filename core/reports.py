"""Reports: how each dialogue performs over a period, with the reference product's metrics and
what it lacks (a funnel per card, pages, versions, known and anonymous visitors).

Counting rules (the reference's; a test pins each):

* triggered: once per session, when the dialogue is first shown (a refresh or a reconnect to the
  same session does not count again); engaged: once per session, on the first answer; completed:
  once per session, at the end of a branch; people acquired (``lead_captured``): once per session,
  on the first valid email; goals and meetings: every time. The engine keeps these flags in the
  session's state, so each event is written at most as often as it counts.
* engagement rate = engaged / triggered; conversion rate = people acquired / engaged.
* the funnel, per question card in the dialogue's order: ``answered`` (answers given in the
  period), ``dropped`` (sessions last active in the period that stopped at it, idle for more than
  ``DROPPED_AFTER``), ``waiting`` (stopped at it, still within that time) and ``reached``, the
  three together.
* pages, versions and known/anonymous split the triggers (and engagements and completions) by
  the page the session started on (without its query string), the dialogue version it played,
  and whether the visitor had an email when it was triggered (typed, or known from a CRM).

Whole days come from the daily roll-up (``chinwag.report_rollup``), so a report over millions of
events reads a few thousand rows.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from .report_rollup import count_events, mark, report_counts
from .store import utcnow
from .tables import IS_ACTIVE, CurrentCard, events, sessions

if TYPE_CHECKING:
    from .app import Chinwag

DROPPED_AFTER = dt.timedelta(minutes=10)  # the reference product's chat inactivity timeout
MAX_PAGES = 50  # pages listed per dialogue (the busiest)


@attrs.frozen
class ReportPeriod:
    """What a report covers: ``[since, until)`` in UTC, and one dialogue or all."""

    since: dt.datetime
    until: dt.datetime
    dialogue: str | None = None

    @classmethod
    def last_days(cls, days: int, dialogue: str | None = None) -> ReportPeriod:
        """The last ``days`` days up to now."""
        now = utcnow()
        return cls(now - dt.timedelta(days=days), now, dialogue)


def reported_event_types(app: Chinwag) -> list[str]:
    """The event types reports count: every registered type marked ``reported``, core's first in
    the order a conversation meets them, then plugins' in registration order."""
    from .default_events import CORE_EVENT_TYPES

    core = [event_type.name for event_type in CORE_EVENT_TYPES]
    names = [event_type.name for event_type in app.event_types if event_type.reported]
    return sorted(names, key=lambda name: (core.index(name) if name in core else len(core)))


async def dialogue_report(app: Chinwag, period: ReportPeriod | int = 90) -> dict[str, Any]:
    """Each dialogue's counts, rates, funnel, pages, versions and visitors over ``period`` (a
    ``ReportPeriod``, or a number of days up to now).

    Whole UTC days come from the daily roll-up (``chinwag.report_rollup``); the partial days at
    the ends of the period and the events the roll-up has not reached yet are counted live.
    """
    assert app.store is not None, "the app has not started"
    if isinstance(period, int):
        period = ReportPeriod.last_days(period)
    counted = reported_event_types(app)
    async with app.store.connect() as connection:
        totals = await _totals(connection, period, counted)
        open_questions = await _open_questions(connection, app, period)
    dialogues: dict[str, dict[str, Any]] = {}

    def entry(dialogue_id: str) -> dict[str, Any]:
        return dialogues.setdefault(dialogue_id, {
            **dict.fromkeys(counted, 0), "engagement_rate": None, "conversion_rate": None, "funnel": [],
            "pages": {}, "versions": {}, "visitors": {"known": 0, "anonymous": 0}})

    answered: dict[tuple[str, str], int] = {}
    for (dialogue_id, kind, key, measure), count in totals.items():
        counts = entry(dialogue_id)
        if kind == "event":
            counts[measure] = counts.get(measure, 0) + count
        elif kind == "card":
            answered[(dialogue_id, key)] = count
        elif kind in ("page", "version"):
            group = counts[f"{kind}s"].setdefault(key, {"sessions": 0, "engaged": 0, "completed": 0})
            group["sessions" if measure == "triggered" else measure] += count
        elif kind == "visitors":
            counts["visitors"][key] += count
    for row in open_questions:
        entry(row.dialogue_id)
    for dialogue_id, counts in dialogues.items():
        counts["engagement_rate"] = _rate(counts.get("engaged", 0), counts.get("triggered", 0))
        counts["conversion_rate"] = _rate(counts.get("lead_captured", 0), counts.get("engaged", 0))
        counts["funnel"] = _funnel(app, dialogue_id, answered, open_questions)
        counts["pages"] = dict(sorted(counts["pages"].items(), key=lambda item: -item[1]["sessions"])[:MAX_PAGES])
        counts["versions"] = dict(sorted(counts["versions"].items(), key=lambda item: int(item[0])))
        for group in (*counts["pages"].values(), *counts["versions"].values()):
            group["engagement_rate"] = _rate(group["engaged"], group["sessions"])
    days = (period.until - period.since) / dt.timedelta(days=1)
    return {"since": period.since.isoformat(), "until": period.until.isoformat(),
            "days": int(days) if days == int(days) else round(days, 3), "dialogue": period.dialogue,
            "counted": counted, "dialogues": dict(sorted(dialogues.items()))}


async def count_of(app: Chinwag, event_name: str, period: ReportPeriod) -> int:
    """How many events of one type the period holds, across dialogues (roll-up and live, like a report)."""
    assert app.store is not None, "the app has not started"
    async with app.store.connect() as connection:
        totals = await _totals(connection, period, [event_name])
    return sum(count for (_, kind, _, measure), count in totals.items() if kind == "event" and measure == event_name)


async def report_series(app: Chinwag, period: ReportPeriod, step: dt.timedelta) -> list[dict[str, Any]]:
    """The reported events counted in consecutive buckets of ``step`` (a day, a week) from
    ``period.since`` (the last one cut at ``period.until``), across dialogues or for
    ``period.dialogue``: ``[{"since": ISO, "until": ISO, "triggered": n, ...}, ...]``, for charts.

    Counted as a report counts (roll-up and live); at most 400 buckets.
    """
    assert app.store is not None, "the app has not started"
    if step <= dt.timedelta(0) or (period.until - period.since) / step > 400:
        raise ValueError("a series has from 1 to 400 buckets")
    counted = reported_event_types(app)
    series = []
    start = period.since
    async with app.store.connect() as connection:
        while start < period.until:
            end = min(start + step, period.until)
            totals = await _totals(connection, ReportPeriod(start, end, period.dialogue), counted)
            bucket: dict[str, Any] = {"since": start.isoformat(), "until": end.isoformat(), **dict.fromkeys(counted, 0)}
            for (_, kind, _, measure), count in totals.items():
                if kind == "event":
                    bucket[measure] = bucket.get(measure, 0) + count
            series.append(bucket)
            start = end
    return series


async def _totals(connection: Any, period: ReportPeriod, counted: list[str]) -> Counter[tuple[str, str, str, str]]:
    """The period's counts by (dialogue, kind, key, measure): whole days from the roll-up, the rest live."""
    first = _midnight(period.since, up=True)
    last = _midnight(period.until, up=False)
    totals: Counter[tuple[str, str, str, str]] = Counter()
    live = [_in(period, events.c.created_at)]
    if first < last:
        query = sa.select(report_counts.c.dialogue_id, report_counts.c.kind, report_counts.c.key,
                          report_counts.c.measure, sa.func.sum(report_counts.c.count)).where(
            report_counts.c.day >= first.date(), report_counts.c.day < last.date()).group_by(
            report_counts.c.dialogue_id, report_counts.c.kind, report_counts.c.key, report_counts.c.measure)
        if period.dialogue:
            query = query.where(report_counts.c.dialogue_id == period.dialogue)
        for dialogue_id, kind, key, measure, count in await connection.execute(query):
            totals[(dialogue_id, kind, key, measure)] += int(count)
        # Live: the partial days at both ends, and what the roll-up has not reached (each a range an index serves).
        live = [sa.and_(events.c.created_at >= period.since, events.c.created_at < first),
                sa.and_(events.c.created_at >= last, events.c.created_at < period.until),
                events.c.id > await mark(connection)]  # by id alone: its days are picked below
    for number, where in enumerate(live):
        if period.dialogue:
            where = sa.and_(where, events.c.dialogue_id == period.dialogue)
        for (day, dialogue_id, kind, key, measure), count in (await count_events(connection, where, counted)).items():
            if number < 2 or first.date() <= day < last.date():  # the tail: whole days only (the ends are above)
                totals[(dialogue_id, kind, key, measure)] += count
    return totals


def _midnight(moment: dt.datetime, up: bool) -> dt.datetime:
    """The UTC midnight at or after (``up``) or at or before ``moment``."""
    start = moment.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return start + dt.timedelta(days=1) if up and start < moment else start


def _in(period: ReportPeriod, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    return sa.and_(column >= period.since, column < period.until)


async def _open_questions(connection: Any, app: Chinwag, period: ReportPeriod) -> list[Any]:
    """Sessions waiting at each card of each dialogue, last active in the period, counted by
    whether they have been idle for more than ``DROPPED_AFTER``: one index range per card."""
    idle = (sessions.c.updated_at < min(period.until, utcnow()) - DROPPED_AFTER).label("idle")
    rows = []
    for dialogue in app.known_dialogues().values():
        if period.dialogue and dialogue.id != period.dialogue:
            continue
        for card in dialogue.cards:
            query = (sa.select(idle, sa.func.count().label("sessions"))
                     .where(sessions.c.dialogue_id == dialogue.id, CurrentCard() == card.id,
                            _in(period, sessions.c.updated_at), IS_ACTIVE).group_by(idle))
            for row in await connection.execute(query):
                rows.append(OpenQuestion(dialogue.id, card.id, bool(row.idle), int(row.sessions)))
    return rows


@attrs.frozen
class OpenQuestion:
    """How many sessions stopped at a card, idle or not."""

    dialogue_id: str
    card: str
    idle: bool
    sessions: int


def _funnel(app: Chinwag, dialogue_id: str, answered: Mapping[tuple[str, str], int],
            open_questions: list[Any]) -> list[dict[str, Any]]:
    """The question cards in the dialogue's order (then any card no longer in it), each with
    reached, answered, dropped and waiting."""
    waiting: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    for row in open_questions:
        if row.dialogue_id == dialogue_id and row.card:
            (dropped if row.idle else waiting)[row.card] += row.sessions
    asked = {card for (dialogue, card) in answered if dialogue == dialogue_id} | set(waiting) | set(dropped)
    dialogue = app.known_dialogues().get(dialogue_id)
    order = [card.id for card in dialogue.cards] if dialogue is not None else []
    cards = [card for card in order if card in asked] + sorted(asked - set(order))
    return [{"card": card, "reached": answered.get((dialogue_id, card), 0) + waiting[card] + dropped[card],
             "answered": answered.get((dialogue_id, card), 0), "dropped": dropped[card], "waiting": waiting[card]}
            for card in cards]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _moment(text: str, name: str) -> dt.datetime:
    """A date (``2026-11-01``) or date and time from the command line or a query string, in UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise ValueError(f"{name} must be a date like 2026-11-01 or a time like 2026-11-01T09:30:00Z") from error
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


def period_from(since: str | None, until: str | None, days: int = 90, dialogue: str | None = None) -> ReportPeriod:
    """The period of ``--since``/``--until`` (or ``days`` up to ``until``); ValueError names what is wrong."""
    end = _moment(until, "until") if until else utcnow()
    start = _moment(since, "since") if since else end - dt.timedelta(days=days)
    if start >= end:
        raise ValueError("since must come before until")
    if end - start > dt.timedelta(days=3650):
        raise ValueError("a report covers at most 3650 days")
    if dialogue is not None and not (0 < len(dialogue) <= 200):
        raise ValueError("dialogue must be a dialogue id")
    return ReportPeriod(start, end, dialogue)


COLUMNS = ("engagement_rate", "conversion_rate")


def report_rows(result: Mapping[str, Any]) -> list[list[Any]]:
    """The report as rows: a header, then one row per dialogue (counts, then rates)."""
    counted = list(result["counted"])
    rows: list[list[Any]] = [["dialogue", *counted, *COLUMNS]]
    for dialogue_id, counts in result["dialogues"].items():
        rows.append([dialogue_id, *(counts[name] for name in counted), *(counts[name] for name in COLUMNS)])
    return rows


def report_table(result: Mapping[str, Any]) -> str:
    """The report as an aligned text table, rates as percentages."""
    lines = []
    for number, row in enumerate(report_rows(result)):
        cells = [str(value) if number == 0 or not isinstance(value, float) else f"{value:.1%}" for value in row]
        cells = ["-" if value == "None" else value for value in cells]
        lines.append("  ".join(f"{cell:>14}" for cell in cells))
    return "\n".join(lines)


def report_csv(result: Mapping[str, Any]) -> str:
    """The report as CSV (rates as fractions), for spreadsheets."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in report_rows(result):
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()

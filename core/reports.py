"""Reports: how each dialogue performs over a period, with the reference product's metrics and
what it lacks (a funnel per card, pages, versions, known and anonymous visitors).

Counting rules (the reference's; a test pins each):

* triggered: once per session, when the dialogue is first shown (a refresh or a reconnect to the
  same session does not count again); engaged: once per session, on the first answer; completed:
  once per session, at the end of a branch; people acquired (``lead_captured``): once per session,
  on the first valid email; goals and meetings: every time. The engine keeps these flags in the
  session's state, so each event is written at most as often as it counts.
* engagement rate = engaged / triggered; conversion rate = people acquired / engaged.
* the funnel, per question card in the dialogue's order: ``reached`` (sessions that were asked
  it in the period), ``answered``, ``dropped`` (asked, never answered, idle for more than
  ``DROPPED_AFTER``) and ``waiting`` (asked, still within it). A card asked again in one session
  counts once.
* pages, versions and known/anonymous split the sessions started in the period by the page they
  started on (without its query string), the dialogue version they played, and whether the
  visitor has an email now (typed or known from a CRM).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
import sqlalchemy as sa

from .store import utc, utcnow
from .tables import events, sessions, visitors

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
    ``ReportPeriod``, or a number of days up to now)."""
    assert app.store is not None, "the app has not started"
    if isinstance(period, int):
        period = ReportPeriod.last_days(period)
    counted = reported_event_types(app)
    dialogues: dict[str, dict[str, Any]] = {}

    def entry(dialogue_id: str) -> dict[str, Any]:
        return dialogues.setdefault(dialogue_id, {
            **dict.fromkeys(counted, 0), "engagement_rate": None, "conversion_rate": None, "funnel": [],
            "pages": {}, "versions": {}, "visitors": {"known": 0, "anonymous": 0}})

    async with app.store.connect() as connection:
        for dialogue_id, name, count in await connection.execute(_counts(period, counted)):
            entry(dialogue_id)[name] = count
        for row in await connection.execute(_sessions(period)):
            _add_session_group(entry(row.dialogue_id), row)
        answered = {(row.dialogue_id, row.card): row.sessions for row in await connection.execute(_answered(period))}
        open_questions = [row for row in await connection.execute(_open_questions(period))]
    for (dialogue_id, _card), _ in answered.items():
        entry(dialogue_id)
    for row in open_questions:
        entry(row.dialogue_id)
    for dialogue_id, counts in dialogues.items():
        counts["engagement_rate"] = _rate(counts.get("engaged", 0), counts.get("triggered", 0))
        counts["conversion_rate"] = _rate(counts.get("lead_captured", 0), counts.get("engaged", 0))
        counts["funnel"] = _funnel(app, dialogue_id, answered, open_questions, period.until)
        counts["pages"] = dict(sorted(counts["pages"].items(), key=lambda item: -item[1]["sessions"])[:MAX_PAGES])
        for group in (*counts["pages"].values(), *counts["versions"].values()):
            group["engagement_rate"] = _rate(group["engaged"], group["sessions"])
    days = (period.until - period.since) / dt.timedelta(days=1)
    return {"since": period.since.isoformat(), "until": period.until.isoformat(),
            "days": int(days) if days == int(days) else round(days, 3), "dialogue": period.dialogue,
            "counted": counted, "dialogues": dict(sorted(dialogues.items()))}


def _in(period: ReportPeriod, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    return sa.and_(column >= period.since, column < period.until)


def _counts(period: ReportPeriod, counted: list[str]) -> sa.Select[Any]:
    query = (sa.select(events.c.dialogue_id, events.c.name, sa.func.count())
             .where(_in(period, events.c.created_at), events.c.name.in_(counted))
             .group_by(events.c.dialogue_id, events.c.name))
    return query.where(events.c.dialogue_id == period.dialogue) if period.dialogue else query


def _has_email() -> sa.ColumnElement[bool]:
    def present(name: str) -> sa.ColumnElement[bool]:
        value = visitors.c.lead[name].as_string()
        return sa.and_(value.is_not(None), value != "")

    return sa.or_(present("lead.email"), present("person.email"))


def _sessions(period: ReportPeriod) -> sa.Select[Any]:
    """Sessions started in the period, grouped by dialogue, version, page, engaged, completed and known."""
    engaged = sessions.c.state["engaged"].as_boolean()
    known = sa.case((_has_email(), True), else_=False)
    columns = (sessions.c.dialogue_id, sessions.c.dialogue_version, sessions.c.page_url,
               engaged.label("engaged"), (sessions.c.status == "completed").label("completed"), known.label("known"))
    query = (sa.select(*columns, sa.func.count().label("sessions"))
             .select_from(sessions.join(visitors, visitors.c.id == sessions.c.visitor_id))
             .where(_in(period, sessions.c.created_at)).group_by(*columns))
    return query.where(sessions.c.dialogue_id == period.dialogue) if period.dialogue else query


def _add_session_group(counts: dict[str, Any], row: Any) -> None:
    engaged, completed = bool(row.engaged), bool(row.completed)
    page = _page(row.page_url)
    for groups, key in ((counts["pages"], page), (counts["versions"], str(row.dialogue_version))):
        group = groups.setdefault(key, {"sessions": 0, "engaged": 0, "completed": 0})
        group["sessions"] += row.sessions
        group["engaged"] += row.sessions if engaged else 0
        group["completed"] += row.sessions if completed else 0
    counts["visitors"]["known" if row.known else "anonymous"] += row.sessions


def _page(url: str | None) -> str:
    """The page a session started on, without its query string or fragment ("-" when unknown)."""
    if not url:
        return "-"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path or "-"


def _answered(period: ReportPeriod) -> sa.Select[Any]:
    card = events.c.data["card"].as_string()
    query = (sa.select(events.c.dialogue_id, card.label("card"),
                       sa.func.count(sa.distinct(events.c.session_id)).label("sessions"))
             .where(_in(period, events.c.created_at), events.c.name == "answered")
             .group_by(events.c.dialogue_id, card))
    return query.where(events.c.dialogue_id == period.dialogue) if period.dialogue else query


def _open_questions(period: ReportPeriod) -> sa.Select[Any]:
    """Sessions waiting for an answer, last active in the period: their dialogue, card and last activity."""
    card = sessions.c.state["card"].as_string()
    query = (sa.select(sessions.c.dialogue_id, card.label("card"), sessions.c.updated_at)
             .where(_in(period, sessions.c.updated_at), sessions.c.status == "active",
                    sessions.c.state["awaiting"].as_string().is_not(None)))
    return query.where(sessions.c.dialogue_id == period.dialogue) if period.dialogue else query


def _funnel(app: Chinwag, dialogue_id: str, answered: Mapping[tuple[str, str], int], open_questions: list[Any],
            until: dt.datetime) -> list[dict[str, Any]]:
    """The question cards in the dialogue's order (then any card no longer in it), each with
    reached, answered, dropped and waiting."""
    waiting: dict[str, int] = {}
    dropped: dict[str, int] = {}
    for row in open_questions:
        if row.dialogue_id == dialogue_id and row.card:
            idle = until - utc(row.updated_at) > DROPPED_AFTER  # type: ignore[operator]
            (dropped if idle else waiting)[row.card] = (dropped if idle else waiting).get(row.card, 0) + 1
    asked = {card for (dialogue, card) in answered if dialogue == dialogue_id} | set(waiting) | set(dropped)
    dialogue = app.dialogues.get(dialogue_id) if isinstance(app.dialogues, Mapping) else None
    order = [card.id for card in dialogue.cards] if dialogue is not None else []
    cards = [card for card in order if card in asked] + sorted(asked - set(order))
    return [{"card": card, "reached": answered.get((dialogue_id, card), 0) + waiting.get(card, 0) + dropped.get(card, 0),
             "answered": answered.get((dialogue_id, card), 0), "dropped": dropped.get(card, 0),
             "waiting": waiting.get(card, 0)} for card in cards]


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

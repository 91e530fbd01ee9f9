"""The team's week: opening hours per weekday on its own wall clock, closed on public holidays and
on dates of its own. Pure: the moment asked about is always an argument.

    time_zone: Europe/Berlin
    hours: {monday: ["09:00-12:30", "13:30-17:30"], friday: ["09:00-15:00"]}   # other days: closed
    country: DE                 # public holidays of this country (the holidays library)
    subdivision: BY             # ... and of this state or province (optional)
    closed_dates: [2026-12-24, 2026-12-31]

Hours are read on the team's wall clock on each date, so 09:00-17:30 stays 09:00-17:30 local
across daylight saving changes. An opening time the clocks skip (the spring-forward gap) opens
at the jump; in a repeated hour (fall back) the wall clock decides, both times round.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Container, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import holidays

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
DAY = 24 * 60
SEARCH_DAYS = 366 + 7  # how far ahead the next opening is looked for
UTC = dt.timezone.utc

# A problem in the settings: the path to the bad setting (keys, or an index in a list) and what is wrong.
SettingProblem = tuple[tuple[str | int, ...], str]


@attrs.frozen
class BusinessHours:
    """When the team is open: ``spans`` per weekday (0 = Monday) as (start, end) minutes after
    local midnight, closed on ``holidays`` and ``closed_dates``."""

    time_zone: ZoneInfo
    spans: tuple[tuple[tuple[int, int], ...], ...]
    holidays: Container[dt.date] = attrs.field(factory=dict)
    closed_dates: frozenset[dt.date] = frozenset()

    def closed_on(self, date: dt.date) -> bool:
        """Whether ``date`` (on the team's calendar) is a public holiday or one of the closed dates."""
        return date in self.closed_dates or date in self.holidays

    def is_open(self, moment: dt.datetime) -> bool:
        """Whether the team is open at ``moment`` (an aware datetime)."""
        local = moment.astimezone(self.time_zone)
        if self.closed_on(local.date()):
            return False
        minute = local.hour * 60 + local.minute + local.second / 60
        return any(start <= minute < end for start, end in self.spans[local.weekday()])

    def next_opening(self, moment: dt.datetime) -> dt.datetime | None:
        """``moment`` when the team is open then; else when it opens next (in its time zone), or
        None when it does not open within a year."""
        if self.is_open(moment):
            return moment.astimezone(self.time_zone)
        today = moment.astimezone(self.time_zone).date()
        for offset in range(SEARCH_DAYS):
            date = today + dt.timedelta(days=offset)
            if self.closed_on(date):
                continue
            for start, _ in sorted(self.spans[date.weekday()]):
                opening = wall_clock_instant(date, start, self.time_zone)
                if opening > moment:
                    return opening.astimezone(self.time_zone)
        return None

    def minutes_until_open(self, moment: dt.datetime) -> int | None:
        """Whole minutes (rounded up) until the team opens: 0 when it is open at ``moment``, None
        when it does not open within a year."""
        opening = self.next_opening(moment)
        if opening is None:
            return None
        seconds = (opening - moment).total_seconds()
        return max(0, -int(-seconds // 60))


def wall_clock_instant(date: dt.date, minute: int, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant the clock of ``zone`` reads ``minute`` (after midnight) on ``date``: the
    first of a repeated time, the jump itself for a time the clocks skip."""
    wall = dt.datetime.combine(date, dt.time(0)) + dt.timedelta(minutes=minute)
    local = wall.replace(tzinfo=zone)  # fold=0: the first of a repeated time
    instant = local.astimezone(UTC)
    new_offset = instant.astimezone(zone).utcoffset()
    if new_offset == local.utcoffset():
        return instant
    # Skipped: read with the old offset ``instant`` is past the jump, read with the new one not yet.
    after, before = int(instant.timestamp()), int(local.replace(fold=1).timestamp())
    while after - before > 1:
        middle = (after + before) // 2
        if dt.datetime.fromtimestamp(middle, zone).utcoffset() == new_offset:
            after = middle
        else:
            before = middle
    return dt.datetime.fromtimestamp(after, UTC)


def read_business_hours(settings: Mapping[str, Any]) -> tuple[BusinessHours | None, list[SettingProblem]]:
    """The business hours the settings describe (None when they are wrong), and every problem."""
    problems: list[SettingProblem] = []
    zone = _time_zone(settings.get("time_zone"), problems)
    spans = _week(settings.get("hours"), problems)
    public = _public_holidays(settings.get("country"), settings.get("subdivision"), problems)
    closed = _closed_dates(settings.get("closed_dates", []), problems)
    if problems or zone is None or spans is None:
        return None, problems
    return BusinessHours(zone, spans, public if public is not None else {}, closed), problems


def _time_zone(value: Any, problems: list[SettingProblem]) -> ZoneInfo | None:
    if not isinstance(value, str) or not value:
        problems.append((("time_zone",), "is required: the team's IANA time zone, such as Europe/Berlin"))
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        problems.append((("time_zone",), f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)"))
        return None


def _week(value: Any, problems: list[SettingProblem]) -> tuple[tuple[tuple[int, int], ...], ...] | None:
    if not isinstance(value, Mapping) or not value:
        problems.append((("hours",), 'is required: opening hours per weekday, e.g. {monday: ["09:00-17:30"]}'))
        return None
    week: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
    found = len(problems)
    for day, spans in value.items():
        if str(day).lower() not in WEEKDAYS:
            problems.append((("hours", day), f"unknown weekday {day!r} (monday ... sunday)"))
            continue
        for index, span in enumerate(spans if isinstance(spans, list) else [spans]):
            where = ("hours", day, index) if isinstance(spans, list) else ("hours", day)
            minutes = _span(span)
            if isinstance(minutes, str):
                problems.append((where, minutes))
            else:
                week[WEEKDAYS.index(str(day).lower())].append(minutes)
    return tuple(tuple(sorted(day)) for day in week) if len(problems) == found else None


def _span(value: Any) -> tuple[int, int] | str:
    """(start, end) minutes of ``"HH:MM-HH:MM"``, or what is wrong with it."""
    match = SPAN.match(value) if isinstance(value, str) else None
    if not match:
        return f"{value!r} is not a span of hours like 09:00-17:30"
    start, end = int(match[1]) * 60 + int(match[2]), int(match[3]) * 60 + int(match[4])
    if int(match[2]) > 59 or int(match[4]) > 59 or start > DAY or end > DAY:
        return f"{value!r} is not a time of day (00:00 to 24:00)"
    if end <= start:
        return (f"{value!r} ends before it starts (a span past midnight is two: "
                "22:00-24:00 and the next day's 00:00-06:00)")
    return start, end


def _public_holidays(country: Any, subdivision: Any, problems: list[SettingProblem]) -> holidays.HolidayBase | None:
    if country is None:
        if subdivision is not None:
            problems.append((("subdivision",), "needs a country"))
        return None
    supported = holidays.list_supported_countries()
    if not isinstance(country, str) or country not in supported:
        problems.append((("country",), f"unknown country {country!r} (a country code the holidays library "
                                       "knows, such as DE, US or GB)"))
        return None
    if subdivision is not None and str(subdivision) not in supported[country]:
        problems.append((("subdivision",), f"unknown subdivision {subdivision!r} of {country} "
                                           f"(known: {', '.join(supported[country])})"))
        return None
    return holidays.country_holidays(country, subdiv=None if subdivision is None else str(subdivision))


def _closed_dates(value: Any, problems: list[SettingProblem]) -> frozenset[dt.date]:
    if not isinstance(value, list):
        problems.append((("closed_dates",), "must be a list of dates like 2026-12-24"))
        return frozenset()
    dates = set()
    for index, item in enumerate(value):
        if isinstance(item, dt.date) and not isinstance(item, dt.datetime):
            dates.add(item)
            continue
        try:
            dates.add(dt.date.fromisoformat(str(item)))
        except ValueError:
            problems.append((("closed_dates", index), f"{item!r} is not a date like 2026-12-24"))
    return frozenset(dates)

"""The period a report page shows, from its query string: a date range and day or week buckets."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import attrs
from chinwag.reports import ReportPeriod
from chinwag.store import utcnow

DEFAULT_DAYS = 30
MAX_DAYS = 366


class PeriodError(ValueError):
    """A date range that cannot be shown; the message says why."""


@attrs.frozen
class PagePeriod:
    """From ``first`` to ``last`` (whole UTC days, both included), in buckets of ``step``."""

    first: dt.date
    last: dt.date
    step: str  # day | week

    @property
    def report(self) -> ReportPeriod:
        """The report period: ``first`` at midnight to the midnight after ``last`` (or now, if sooner)."""
        since = dt.datetime.combine(self.first, dt.time(0), tzinfo=dt.timezone.utc)
        until = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(0), tzinfo=dt.timezone.utc)
        return ReportPeriod(since, until)

    @property
    def bucket(self) -> dt.timedelta:
        """The length of one bucket."""
        return dt.timedelta(days=7 if self.step == "week" else 1)

    def query(self) -> str:
        """The query string that shows this period again."""
        return f"since={self.first.isoformat()}&until={self.last.isoformat()}&step={self.step}"


def page_period(params: Mapping[str, str]) -> PagePeriod:
    """The period of ``?since=YYYY-MM-DD&until=YYYY-MM-DD&step=day|week`` (default: the last 30 days
    by day); PeriodError for a malformed date, an empty range or more than a year."""
    today = utcnow().date()
    try:
        last = dt.date.fromisoformat(params["until"]) if params.get("until") else today
        first = dt.date.fromisoformat(params["since"]) if params.get("since") else last - dt.timedelta(days=DEFAULT_DAYS - 1)
    except ValueError as error:
        raise PeriodError("dates must look like 2026-11-01") from error
    step = params.get("step") or "day"
    if step not in ("day", "week"):
        raise PeriodError("step must be day or week")
    if first > last:
        raise PeriodError("the first day must not come after the last")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(f"a range covers at most {MAX_DAYS} days")
    return PagePeriod(first, last, step)

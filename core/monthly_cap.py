"""The monthly cap of engaged conversations (``monthly_cap`` in chinwag.yaml), as the reference
product has: at 90 % the ``alerts`` recipients are told (once a month, across processes: the
notification's key is the month, and the outbox keeps one item per key); at 100 % no dialogue
starts until the 1st of next month (UTC), while conversations already engaged go on.

The count comes from the reports' roll-up and live tail (``reports.count_of``), read at most
every ``REFRESH`` seconds per process; between reads a process adds the engagements it stores
itself, so it stops at the cap without waiting for the next read.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import TYPE_CHECKING

from .store import utcnow

if TYPE_CHECKING:
    from .app import Chinwag

log = logging.getLogger("chinwag.cap")

REFRESH = 30.0  # seconds between counts read from the database
WARN_AT = 0.9


def month_start(now: dt.datetime) -> dt.datetime:
    """Midnight UTC on the 1st of ``now``'s month."""
    return now.astimezone(dt.timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


class MonthlyCap:
    """Whether this month's engaged conversations have reached the project's cap."""

    def __init__(self, app: Chinwag) -> None:
        self.app = app
        self._month: dt.datetime | None = None
        self._used = 0
        self._read_at = float("-inf")
        self._warned: dt.datetime | None = None

    async def reached(self) -> bool:
        """True when no new dialogue may start this month (always False without a cap)."""
        cap = self.app.config.monthly_cap
        if not cap:
            return False
        used = await self.used()
        if used >= cap * WARN_AT:
            await self._warn(used, cap)
        return used >= cap

    async def used(self) -> int:
        """Engaged conversations this month (UTC), as far as this process knows."""
        from .reports import ReportPeriod, count_of

        now = utcnow()
        month = month_start(now)
        if month != self._month or time.monotonic() - self._read_at > REFRESH:
            self._used = await count_of(self.app, "engaged", ReportPeriod(month, now + dt.timedelta(seconds=1)))
            self._month, self._read_at = month, time.monotonic()
        return self._used

    def note_engaged(self, count: int = 1) -> None:
        """This process stored ``count`` engagements: count them before the next read."""
        self._used += count

    async def _warn(self, used: int, cap: int) -> None:
        """Tell the alerts recipients, once this month (the key is the month's)."""
        if self._warned == self._month or self.app.store is None:
            return
        from .notifications import MONTHLY_CAP_NEAR, Notification
        from .notifications.delivery import enqueue_notification

        month = self._month or month_start(utcnow())
        log.warning("%d of this month's %d engaged conversations are used", used, cap)
        async with self.app.store.transaction() as connection:
            await enqueue_notification(connection, self.app, Notification(
                MONTHLY_CAP_NEAR, f"monthly-cap-{month:%Y-%m}", utcnow(), None,
                {"used": used, "cap": cap, "month": f"{month:%Y-%m}", "reason": f"{used} of {cap} used"}))
        self._warned = month

"""Background jobs on a schedule inside ``chinwag serve``, one process at a time per job.

Each job has a name, an interval and a coroutine function. The serving processes all try it;
a lease in ``scheduled_leases`` (taken with a conditional UPDATE, atomic on SQLite and
PostgreSQL alike) lets one of them run it, and is then held until the next run is due, so
several processes neither repeat the work nor spend a vendor's API budget twice. A failure is
logged and the job is tried again at its next turn. Used for the CRM pulls (``crm_schedule``)
and the retention purge (``retention``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .store import Store, utcnow

log = logging.getLogger("chinwag.schedule")

metadata = sa.MetaData()

FIRST_RUN_AFTER = 30.0  # seconds after start before a job's first try (sooner if it runs more often)

scheduled_leases = sa.Table(
    "scheduled_leases",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("until", sa.DateTime(timezone=True), nullable=True),
)


@attrs.frozen
class Job:
    """A job to run every ``every`` seconds: ``run`` returns a line for the log, or None."""

    name: str
    every: float
    run: Callable[[], Awaitable[str | None]]


class Schedule:
    """Runs its jobs in the background of one serving process, sharing them with the others."""

    def __init__(self, store: Callable[[], Store | None]) -> None:
        self._store = store
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.jobs: list[Job] = []
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, name: str, every: float, run: Callable[[], Awaitable[str | None]]) -> None:
        """Schedule ``run`` every ``every`` seconds (nothing for an interval of 0 or less)."""
        if every > 0:
            self.jobs.append(Job(name, every, run))

    def start(self) -> None:
        """One background task per job."""
        for job in self.jobs:
            self._tasks.append(asyncio.get_running_loop().create_task(self._loop(job), name=f"schedule-{job.name}"))

    async def stop(self) -> None:
        """Cancel the tasks (a run under way is abandoned; what it committed stays)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _loop(self, job: Job) -> None:
        # Not at once: a process starting (or many starting together) first serves its visitors.
        await asyncio.sleep(min(job.every, FIRST_RUN_AFTER))
        while True:
            try:
                if await self._take(job):
                    try:
                        said = await job.run()
                        if said:
                            log.info("%s: %s", job.name, said)
                    finally:
                        await self._hold_until_next(job)
            except Exception as error:
                log.warning("%s: scheduled run failed: %s", job.name, error)
            await asyncio.sleep(job.every)

    def _store_or_fail(self) -> Store:
        store = self._store()
        assert store is not None, "the app has not started"
        return store

    async def _take(self, job: Job) -> bool:
        """The lease for the job's next run, if no other process holds it."""
        now = utcnow()
        async with self._store_or_fail().transaction() as connection:
            insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(scheduled_leases)
            await connection.execute(insert.values(job=job.name, owner=None, until=None).on_conflict_do_nothing())
            taken = await connection.execute(sa.update(scheduled_leases).where(
                scheduled_leases.c.job == job.name,
                sa.or_(scheduled_leases.c.until.is_(None), scheduled_leases.c.until < now),
            # Held while the job runs; a process that dies mid-run leaves it to run out.
            ).values(owner=self.owner, until=now + dt.timedelta(seconds=max(job.every, 60) * 10)))
            return taken.rowcount == 1

    async def _hold_until_next(self, job: Job) -> None:
        """Keep the lease until the next run is due, so no process runs the job before then."""
        with contextlib.suppress(Exception):
            async with self._store_or_fail().transaction() as connection:
                await connection.execute(sa.update(scheduled_leases).where(
                    scheduled_leases.c.job == job.name, scheduled_leases.c.owner == self.owner,
                ).values(until=utcnow() + dt.timedelta(seconds=job.every * 0.9)))

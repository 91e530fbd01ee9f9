"""Incremental CRM syncs on a schedule inside ``chinwag serve``, one process at a time.

A connector that has ``sync_every`` (seconds, > 0) is pulled (``crm_records.pull``) that often by
the serving processes. A lease in ``crm_sync_leases`` (taken with a conditional UPDATE, which is
atomic on SQLite and PostgreSQL alike) lets one process at a time pull a given connector, so
several processes do not spend the CRM's API budget on the same changes. A failed pull is
logged, recorded as the connector's ``last_error`` and tried again at the next turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import secrets
import socket
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .crm_records import metadata, pull
from .store import utcnow

if TYPE_CHECKING:
    from .app import Chinwag

log = logging.getLogger("chinwag.crm")

crm_sync_leases = sa.Table(
    "crm_sync_leases",
    metadata,
    sa.Column("connector", sa.String(100), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=True),
    sa.Column("until", sa.DateTime(timezone=True), nullable=True),
)


class CrmSyncSchedule:
    """Pulls each connector with a ``sync_every`` on its schedule, in the background."""

    def __init__(self, app: Chinwag) -> None:
        self.app = app
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """One background task per scheduled connector."""
        for connector in self.app.crm_connectors:
            every = float(getattr(connector, "sync_every", 0) or 0)
            if every > 0:
                self._tasks.append(asyncio.get_running_loop().create_task(self._loop(connector, every),
                                                                          name=f"crm-sync-{connector.name}"))

    async def stop(self) -> None:
        """Cancel the tasks (a pull under way is abandoned; its pages so far are stored)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _loop(self, connector: object, every: float) -> None:
        name = getattr(connector, "name")
        while True:
            try:
                if await self._take(name, every):
                    try:
                        assert self.app.store is not None
                        done = await pull(self.app.store, connector)  # type: ignore[arg-type]
                        log.info("CRM %s: pulled %d changed people", name, done.rows)
                    finally:
                        await self._hold_until_next(name, every)
            except Exception as error:  # logged and kept as last_error by pull; tried again next turn
                log.warning("CRM %s: scheduled sync failed: %s", name, error)
            await asyncio.sleep(every)

    async def _take(self, name: str, every: float) -> bool:
        """The lease for this connector's next pull, if no other process holds it."""
        assert self.app.store is not None
        now = utcnow()
        async with self.app.store.transaction() as connection:
            insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(crm_sync_leases)
            await connection.execute(insert.values(connector=name, owner=None, until=None).on_conflict_do_nothing())
            taken = await connection.execute(sa.update(crm_sync_leases).where(
                crm_sync_leases.c.connector == name,
                sa.or_(crm_sync_leases.c.until.is_(None), crm_sync_leases.c.until < now),
            # Held while the pull runs; a process that dies mid-pull leaves it to run out.
            ).values(owner=self.owner, until=now + dt.timedelta(seconds=max(every, 60) * 10)))
            return taken.rowcount == 1

    async def _hold_until_next(self, name: str, every: float) -> None:
        """Keep the lease until the next pull is due, so no process pulls again before then."""
        assert self.app.store is not None
        with contextlib.suppress(Exception):
            async with self.app.store.transaction() as connection:
                await connection.execute(sa.update(crm_sync_leases).where(
                    crm_sync_leases.c.connector == name, crm_sync_leases.c.owner == self.owner,
                ).values(until=utcnow() + dt.timedelta(seconds=every * 0.9)))

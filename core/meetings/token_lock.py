"""One process at a time refreshes an agent's calendar tokens, across every process on the database.

``refresh_lock(app, email)`` holds the agent's row of ``token_refresh_leases`` while a provider
redeems the refresh token and saves the answer, and hands the provider the tokens stored at the
moment it got the lease: when another process refreshed while this one waited, those are already
fresh and no second refresh is made (which a vendor that rotates refresh tokens would refuse).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..credentials import CredentialsUnreadable
from ..store import utcnow
from .tables import agents as agent_rows
from .tables import token_refresh_leases

if TYPE_CHECKING:
    from ..app import Chinwag

# Longer than a token request with all its retries; a process that dies holding the lease
# blocks the agent's refreshes for at most this long.
LEASE = dt.timedelta(minutes=3)
POLL = 0.05  # seconds between attempts to take a held lease


@contextlib.asynccontextmanager
async def refresh_lock(app: Chinwag, email: str) -> AsyncIterator[dict[str, Any] | None]:
    """Hold ``email``'s refresh lease; yield the agent's tokens as stored now (None if unreadable)."""
    holder = secrets.token_hex(16)
    while not await _take(app, email, holder):
        await asyncio.sleep(POLL)
    try:
        yield await _stored_tokens(app, email)
    finally:
        async with app.store.transaction() as connection:
            await connection.execute(sa.update(token_refresh_leases).where(
                token_refresh_leases.c.agent_email == email, token_refresh_leases.c.holder == holder,
            ).values(holder=None, until=None))


async def _take(app: Chinwag, email: str, holder: str) -> bool:
    """Take the lease if it is free or ran out; whether this process holds it now."""
    now = utcnow()
    async with app.store.transaction() as connection:
        insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(token_refresh_leases)
        await connection.execute(insert.values(agent_email=email, holder=None, until=None).on_conflict_do_nothing())
        taken = await connection.execute(sa.update(token_refresh_leases).where(
            token_refresh_leases.c.agent_email == email,
            sa.or_(token_refresh_leases.c.until.is_(None), token_refresh_leases.c.until < now),
        ).values(holder=holder, until=now + LEASE))
        return taken.rowcount == 1


async def _stored_tokens(app: Chinwag, email: str) -> dict[str, Any] | None:
    from .agent_state import credentials

    async with app.store.connect() as connection:
        stored = (await connection.execute(sa.select(agent_rows.c.credentials).where(agent_rows.c.email == email))).scalar()
    if not stored:
        return None
    try:
        return credentials(app).decrypt(stored)
    except CredentialsUnreadable:
        return None

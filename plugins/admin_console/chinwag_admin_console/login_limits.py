"""Slowing password guessing: failed sign-ins counted per email and per client address.

After ``PER_EMAIL`` failures for one email (or ``PER_ADDRESS`` from one address) within
``WINDOW``, sign-ins for it are refused until the oldest failure leaves the window, even with the
right password. Kept in the database, so every server process counts the same failures.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

import sqlalchemy as sa
from chinwag.store import utc, utcnow

from .tables import login_failures

if TYPE_CHECKING:
    from chinwag.app import Chinwag

WINDOW = dt.timedelta(minutes=15)
PER_EMAIL = 5
PER_ADDRESS = 30


def _keys(email: str, address: str) -> dict[str, int]:
    return {f"email:{email.strip().lower()[:320]}": PER_EMAIL, f"address:{address[:64]}": PER_ADDRESS}


async def wait_before_login(app: Chinwag, email: str, address: str) -> int | None:
    """Minutes to wait before this email may try again from this address, or None when it may now."""
    now = utcnow()
    longest = None
    async with app.store.connect() as connection:
        for key, limit in _keys(email, address).items():
            times = (await connection.execute(sa.select(login_failures.c.at).where(
                login_failures.c.key == key, login_failures.c.at > now - WINDOW).order_by(
                login_failures.c.at.desc()).limit(limit))).scalars().all()
            if len(times) >= limit:
                free_at = utc(times[-1]) + WINDOW  # type: ignore[operator]
                minutes = max(1, math.ceil((free_at - now).total_seconds() / 60))
                longest = max(longest or 0, minutes)
    return longest


async def record_failure(app: Chinwag, email: str, address: str) -> None:
    """Count one failed sign-in against the email and the address; forget failures past the window."""
    now = utcnow()
    async with app.store.transaction() as connection:
        await connection.execute(sa.delete(login_failures).where(login_failures.c.at <= now - WINDOW))
        await connection.execute(sa.insert(login_failures), [{"key": key, "at": now} for key in _keys(email, address)])


async def clear_failures(app: Chinwag, email: str) -> None:
    """A successful sign-in clears the email's failures (the address's stay counted)."""
    key = next(iter(_keys(email, "")))
    async with app.store.transaction() as connection:
        await connection.execute(sa.delete(login_failures).where(login_failures.c.key == key))

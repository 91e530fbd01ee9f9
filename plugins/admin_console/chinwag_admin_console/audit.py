"""The audit log: who changed what, when. Written in the change's own transaction where the
console makes the change, right after it where core does (a meeting cancelled, a queue moved)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa
from chinwag.store import utc, utcnow

from .tables import audit_log

if TYPE_CHECKING:
    from chinwag.app import Chinwag

COMMAND_LINE = "command line"


@attrs.frozen
class AuditEntry:
    """One change: when, by whom, what was done to what, and details."""

    at: dt.datetime
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] | None


async def record(connection: Any, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None) -> None:
    """Add one entry through ``connection`` (the transaction of the change it describes)."""
    await connection.execute(sa.insert(audit_log).values(
        at=utcnow(), actor=actor[:320], action=action[:60], subject=subject[:400], detail=detail))


async def record_now(app: Chinwag, actor: str, action: str, subject: str, detail: dict[str, Any] | None = None) -> None:
    """Add one entry in a transaction of its own (for a change core has already committed)."""
    async with app.store.transaction() as connection:
        await record(connection, actor, action, subject, detail)


async def entries(app: Chinwag, limit: int = 200, actor: str | None = None) -> list[AuditEntry]:
    """The newest entries first (only ``actor``'s when given)."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    async with app.store.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [AuditEntry(utc(row.at), row.actor, row.action, row.subject, row.detail) for row in rows]  # type: ignore[arg-type]

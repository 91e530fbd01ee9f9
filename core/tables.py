"""The core tables, declared on core's own ``metadata``.

Nothing else is ever declared on it: each app builds its schema (``Chinwag.metadata``) from
these tables and those plugins register (``register_tables``), so two apps in one process,
with different plugins, never share or mutate one schema.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

metadata = sa.MetaData()


class CurrentCard(FunctionElement[str]):
    """The card a session is at (its state's ``card``), written the same way in queries and in
    the index that serves them (a planner matches an index expression only to the same text)."""

    type = sa.String()
    name = "current_card"
    inherit_cache = True


@compiles(CurrentCard, "sqlite")
def _current_card_sqlite(element: CurrentCard, compiler: Any, **options: Any) -> str:
    return "json_extract(state, '$.card')"


@compiles(CurrentCard, "postgresql")
def _current_card_postgresql(element: CurrentCard, compiler: Any, **options: Any) -> str:
    return "(state ->> 'card')"

# Times are stored as UTC; ``chinwag.store.utc`` re-attaches the zone SQLite drops.
visitors = sa.Table(
    "visitors",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("lead", sa.JSON, nullable=False),  # known lead/company attributes, dotted names
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("visitor_id", sa.String(40), sa.ForeignKey("visitors.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("dialogue_id", sa.String(200), nullable=False),
    sa.Column("dialogue_version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # active | completed
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),  # optimistic lock: bumped on every save
    sa.Column("page_url", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),  # reports by start
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
# Open conversations by last activity, with their dialogue and card: the report's funnel
# (where visitors stopped) reads this index alone.
sa.Index("ix_sessions_open", sessions.c.dialogue_id, CurrentCard(), sessions.c.updated_at,
         sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))
IS_ACTIVE = sessions.c.status == sa.literal_column("'active'")  # a literal, so the planner can use that index

# Frames in the order they were sent (``id`` grows; one session's turns never interleave).
transcript = sa.Table(
    "transcript",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("frame", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Read by time (``created_at``) or ``id`` range, by session or visitor, or by ``key``; name and
# dialogue only filter what those found, so they have no index (each costs every turn's insert).
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(40), nullable=False, unique=True),  # the event's id (idempotency key)
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=True, index=True),
    sa.Column("visitor_id", sa.String(40), nullable=True),
    sa.Column("dialogue_id", sa.String(200), nullable=True),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# Every published version of every dialogue, so a visitor who engaged with version 1 finishes
# version 1 after version 2 is published (the reference product's rule).
dialogue_versions = sa.Table(
    "dialogue_versions",
    metadata,
    sa.Column("dialogue_id", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
)

# How many visits each visitor made (a visit starts with a page load after a gap without one):
# targeting's ``visit.count`` and ``visit.returning``.
visitor_visits = sa.Table(
    "visitor_visits",
    metadata,
    sa.Column("visitor_id", sa.String(40), sa.ForeignKey("visitors.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("visits", sa.Integer, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),  # when the current visit began
)

# One row that ``/healthz`` rewrites to prove the database still takes commits (a full disk or a
# read-only file fails here, where ``SELECT 1`` would still succeed).
health_probe = sa.Table(
    "health_probe",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
)

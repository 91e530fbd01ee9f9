"""The tables of agents, meetings and routing, declared on the plugin's own ``metadata``.

The built-in plugin registers them through ``register_tables`` like any third party; an app
without the meetings plugin has none of them.

No double booking is the database's job: every live meeting claims the five-minute cells its
time covers (start to end plus the agent's buffer) in ``meeting_claims``, whose primary key is
(agent, cell). Two meetings of one agent that overlap by even a minute, whatever their lengths,
want a common cell, so the second insert fails on every database and in every process.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

metadata = sa.MetaData()

CLAIM_CELL = dt.timedelta(minutes=5)

# One row per agent named in chinwag.yaml: calendar connection and place in the routing queue.
agents = sa.Table(
    "agents",
    metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("provider", sa.String(40), nullable=True),
    sa.Column("calendar_id", sa.String(320), nullable=True),
    sa.Column("credentials", sa.Text, nullable=True),  # Fernet-encrypted token dict (chinwag.credentials)
    sa.Column("status", sa.String(20), nullable=False),  # not_connected | connected | needs_reconnect
    sa.Column("status_reason", sa.Text, nullable=True),
    sa.Column("position", sa.Integer, nullable=False),  # order in the round-robin queue
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# A pending "connect your calendar" link: the OAuth ``state`` is this random, single-use nonce.
connect_requests = sa.Table(
    "calendar_connect_requests",
    metadata,
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("agent_email", sa.String(320), nullable=False),
    sa.Column("provider", sa.String(40), nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Who redeems an agent's refresh token right now. A vendor that rotates refresh tokens (Microsoft)
# may refuse the old one once redeemed, so two processes refreshing at once would lose the grant:
# a process takes this lease (a conditional UPDATE, atomic on SQLite and PostgreSQL), re-reads
# the stored tokens, refreshes only if nobody did meanwhile, saves, and lets go. ``until`` bounds
# the lease of a process that died holding it.
token_refresh_leases = sa.Table(
    "token_refresh_leases",
    metadata,
    sa.Column("agent_email", sa.String(320), primary_key=True),
    sa.Column("holder", sa.String(40), nullable=True),
    sa.Column("until", sa.DateTime(timezone=True), nullable=True),
)

meetings = sa.Table(
    "meetings",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("agent_email", sa.String(320), nullable=False, index=True),
    sa.Column("queue", sa.String(200), nullable=False),  # the routing queue name (reported with the event)
    sa.Column("status", sa.String(20), nullable=False),  # pending | scheduled | rescheduled | cancelled
    sa.Column("start", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("lead_email", sa.String(320), nullable=True),
    sa.Column("lead_name", sa.String(200), nullable=True),
    sa.Column("session_id", sa.String(40), nullable=True),
    sa.Column("dialogue_id", sa.String(200), nullable=True),
    sa.Column("page_url", sa.Text, nullable=True),
    sa.Column("remote_id", sa.Text, nullable=True),
    sa.Column("join_url", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# An event a booking asked a provider to create, written just before the create and deleted with
# the meeting's confirmation. A row that outlives its booking (the provider's answer was lost and
# the provider then stayed down, or the process died) means the event may exist with no meeting:
# ``chinwag.meetings.reconcile`` finds it by the idempotency key and cancels it.
unconfirmed_events = sa.Table(
    "unconfirmed_events",
    metadata,
    sa.Column("idempotency_key", sa.String(200), primary_key=True),
    sa.Column("agent_email", sa.String(320), primary_key=True),
    sa.Column("start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),  # taken by a sweep then (None: free)
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
)

meeting_claims = sa.Table(
    "meeting_claims",
    metadata,
    sa.Column("agent_email", sa.String(320), primary_key=True),
    sa.Column("cell", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("meeting_id", sa.String(40), sa.ForeignKey("meetings.id", ondelete="CASCADE"), nullable=False, index=True),
)

# An agent's schedule as saved from a console (or ``chinwag agents schedule``): weekly hours, zone,
# meeting length, buffer, notice and horizon, as one checked JSON document that replaces the
# same keys of chinwag.yaml for that agent until it is cleared.
agent_schedules = sa.Table(
    "agent_schedules",
    metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("schedule", sa.Text, nullable=False),  # JSON: the chinwag.yaml keys it sets
    sa.Column("updated_by", sa.String(320), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# The round-robin pointer of each routing queue: who took its last meeting. Locked (by an
# UPDATE, which is a row lock on PostgreSQL and the write lock on SQLite) while a booking
# chooses its agent, so processes booking at once take turns.
routing_pointers = sa.Table(
    "routing_pointers",
    metadata,
    sa.Column("queue", sa.String(200), primary_key=True),
    sa.Column("last_agent", sa.String(320), nullable=True),
    sa.Column("turns", sa.Integer, nullable=False),
)


def claim_cells(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The cells [start, end) touches: the first one holding ``start`` up to the one before ``end``."""
    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    cell = epoch + ((start - epoch) // CLAIM_CELL) * CLAIM_CELL
    cells = []
    while cell < end:
        cells.append(cell)
        cell += CLAIM_CELL
    return cells

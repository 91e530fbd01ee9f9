"""Release 0.1: the meetings plugin's tables as that release created them (create_all), the baseline.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Agents, calendar connect requests, meetings, their claims and the routing pointers."""
    op.create_table(
        "agents",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("provider", sa.String(40), nullable=True),
        sa.Column("calendar_id", sa.String(320), nullable=True),
        sa.Column("credentials", sa.Text, nullable=True),  # Fernet-encrypted token dict (chinwag.credentials)
        sa.Column("status", sa.String(20), nullable=False),  # not_connected | connected | needs_reconnect
        sa.Column("status_reason", sa.Text, nullable=True),
        sa.Column("position", sa.Integer, nullable=False),  # order in the round-robin queue
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "calendar_connect_requests",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("agent_email", sa.String(320), nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "meetings",
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
    op.create_table(
        "meeting_claims",
        sa.Column("agent_email", sa.String(320), primary_key=True),
        sa.Column("cell", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("meeting_id", sa.String(40), sa.ForeignKey("meetings.id", ondelete="CASCADE"), nullable=False, index=True),
    )
    op.create_table(
        "routing_pointers",
        sa.Column("queue", sa.String(200), primary_key=True),
        sa.Column("last_agent", sa.String(320), nullable=True),
        sa.Column("turns", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    """Drop them (and every row in them)."""
    op.drop_table("routing_pointers")
    op.drop_table("meeting_claims")
    op.drop_table("meetings")
    op.drop_table("calendar_connect_requests")
    op.drop_table("agents")

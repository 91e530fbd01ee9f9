"""Reconciliation: the calendar events a booking asked for and has not confirmed (unconfirmed_events).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
# A database made before migrations that has these tables has this revision's changes already.
adopted_when_present = ("unconfirmed_events",)


def upgrade() -> None:
    """Add ``unconfirmed_events``."""
    op.create_table(
        "unconfirmed_events",
        sa.Column("idempotency_key", sa.String(200), primary_key=True),
        sa.Column("agent_email", sa.String(320), primary_key=True),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )


def downgrade() -> None:
    """Drop ``unconfirmed_events``."""
    op.drop_table("unconfirmed_events")

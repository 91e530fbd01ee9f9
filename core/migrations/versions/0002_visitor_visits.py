"""Targeting: each visitor's visit count and when the current visit began (visitor_visits).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
# A database made before migrations that has these tables has this revision's changes already.
adopted_when_present = ("visitor_visits",)


def upgrade() -> None:
    """Add ``visitor_visits``."""
    op.create_table(
        "visitor_visits",
        sa.Column("visitor_id", sa.String(40), sa.ForeignKey("visitors.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("visits", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop ``visitor_visits``."""
    op.drop_table("visitor_visits")

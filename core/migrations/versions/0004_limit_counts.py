"""Abuse limits: the counts shared by every process (limit_counts).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
# A database made before migrations that has these tables has this revision's changes already.
adopted_when_present = ("limit_counts",)


def upgrade() -> None:
    """Add ``limit_counts``."""
    op.create_table(
        "limit_counts",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    """Drop ``limit_counts``."""
    op.drop_table("limit_counts")

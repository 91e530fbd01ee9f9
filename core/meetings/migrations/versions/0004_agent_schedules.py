"""Agents' schedules saved outside chinwag.yaml (agent_schedules).

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


def upgrade() -> None:
    """Add ``agent_schedules``."""
    op.create_table(
        "agent_schedules",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("schedule", sa.Text, nullable=False),
        sa.Column("updated_by", sa.String(320), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop ``agent_schedules``."""
    op.drop_table("agent_schedules")

"""Storage outages: the one row /healthz rewrites to prove the database takes commits (health_probe).

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
adopted_when_present = ("health_probe",)


def upgrade() -> None:
    """Add ``health_probe``."""
    op.create_table(
        "health_probe",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop ``health_probe``."""
    op.drop_table("health_probe")

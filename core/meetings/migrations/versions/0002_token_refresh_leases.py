"""Token refresh under a per-agent lease: one process redeems an agent's refresh token at a time.

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
adopted_when_present = ("token_refresh_leases",)


def upgrade() -> None:
    """Add ``token_refresh_leases``."""
    op.create_table(
        "token_refresh_leases",
        sa.Column("agent_email", sa.String(320), primary_key=True),
        sa.Column("holder", sa.String(40), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    """Drop ``token_refresh_leases``."""
    op.drop_table("token_refresh_leases")

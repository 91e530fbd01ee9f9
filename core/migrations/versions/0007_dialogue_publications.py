"""Publishing: what is published lives in the database (dialogue_publications).

A database upgraded from 0.1 starts with no row: with publishing.mode auto (the default) the first
serving process publishes each dialogue file's version, as 0.1 served them.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
# A database made before migrations that has these tables has this revision's changes already.
adopted_when_present = ("dialogue_publications",)


def upgrade() -> None:
    """Add ``dialogue_publications``."""
    op.create_table(
        "dialogue_publications",
        sa.Column("dialogue_id", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=True),
    )


def downgrade() -> None:
    """Drop ``dialogue_publications``."""
    op.drop_table("dialogue_publications")

"""Notifications: the alert throttle (notification_throttle), the plugin's first table.

Made with create_all before migrations existed, so a database that has it is adopted here.

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
    """Add ``notification_throttle``."""
    op.create_table(
        "notification_throttle",
        sa.Column("notifier", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(60), primary_key=True),
        sa.Column("subject", sa.String(320), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop ``notification_throttle``."""
    op.drop_table("notification_throttle")

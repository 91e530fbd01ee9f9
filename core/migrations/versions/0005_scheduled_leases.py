"""Background jobs: one lease per job (scheduled_leases) replaces the CRM syncs' own (crm_sync_leases).

The old leases only said which process pulled a connector until when; they are dropped, and the
first scheduled pull after the upgrade takes a new lease.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
# A database made before migrations that has these tables has this revision's changes already.
adopted_when_present = ("scheduled_leases",)


def upgrade() -> None:
    """Add ``scheduled_leases``; drop ``crm_sync_leases``."""
    op.create_table(
        "scheduled_leases",
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
    )
    op.drop_table("crm_sync_leases")


def downgrade() -> None:
    """Put ``crm_sync_leases`` back (empty); drop ``scheduled_leases``."""
    op.create_table(
        "crm_sync_leases",
        sa.Column("connector", sa.String(100), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
    )
    op.drop_table("scheduled_leases")

"""Reports: the daily roll-up (report_counts, report_progress) and the sessions' indexes reports read
(by start; open sessions by dialogue, current card and last activity).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
# A database made before migrations that has these tables has this revision's changes already.
adopted_when_present = ("report_counts", "report_progress")

# The index expression of ``chinwag.tables.CurrentCard`` in each dialect, as create_all writes it.
OPEN_SESSIONS = {
    "sqlite": "CREATE INDEX ix_sessions_open ON sessions (dialogue_id, json_extract(state, '$.card'), updated_at) "
              "WHERE status = 'active'",
    "postgresql": "CREATE INDEX ix_sessions_open ON sessions (dialogue_id, (state ->> 'card'), updated_at) "
                  "WHERE status = 'active'",
}


def upgrade() -> None:
    """Add ``report_counts`` and ``report_progress``; index sessions by start, and the open ones."""
    op.create_table(
        "report_counts",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("dialogue_id", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("key", sa.String(500), primary_key=True),
        sa.Column("measure", sa.String(60), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "report_progress",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("last_event_id", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_sessions_created_at", "sessions", ["created_at"])
    op.execute(OPEN_SESSIONS[op.get_bind().dialect.name])


def downgrade() -> None:
    """Drop the sessions' report indexes and the roll-up's tables."""
    op.drop_index("ix_sessions_open", table_name="sessions")
    op.drop_index("ix_sessions_created_at", table_name="sessions")
    op.drop_table("report_progress")
    op.drop_table("report_counts")

"""Events: drop the indexes no query reads (by name, by dialogue), which every turn's event paid for.

Every query of ``events`` bounds it by ``created_at`` or by ``id`` (reports, the roll-up, retention)
or finds it by ``session_id``, ``visitor_id`` or ``key`` (forgetting, cascades, idempotency); the
event name and the dialogue only filter rows those bounds found. The name index even misled
SQLite's planner into counting a period's events through it (docs/benchmarks.md).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Drop ``ix_events_name`` and ``ix_events_dialogue_id``."""
    op.drop_index("ix_events_name", table_name="events")
    op.drop_index("ix_events_dialogue_id", table_name="events")


def downgrade() -> None:
    """Index events by name and by dialogue again."""
    op.create_index("ix_events_dialogue_id", "events", ["dialogue_id"])
    op.create_index("ix_events_name", "events", ["name"])

"""Release 0.1: core's tables as that release created them (create_all), the baseline.

A 0.1 database has these tables and no version table: ``chinwag db upgrade`` stamps it here
(adoption) and runs the later revisions.

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
    """Visitors, sessions, transcript, events, dialogue versions, the outbox, CRM records, vendor limiters."""
    op.create_table(
        "visitors",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("lead", sa.JSON, nullable=False),  # known lead/company attributes, dotted names
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("visitor_id", sa.String(40), sa.ForeignKey("visitors.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("dialogue_id", sa.String(200), nullable=False),
        sa.Column("dialogue_version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),  # active | completed
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),  # optimistic lock: bumped on every save
        sa.Column("page_url", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "transcript",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("frame", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(40), nullable=False, unique=True),  # the event's id (idempotency key)
        sa.Column("name", sa.String(40), nullable=False, index=True),
        sa.Column("session_id", sa.String(40), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=True, index=True),
        sa.Column("visitor_id", sa.String(40), nullable=True),
        sa.Column("dialogue_id", sa.String(200), nullable=True, index=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )
    op.create_table(
        "dialogue_versions",
        sa.Column("dialogue_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # delivery order
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),  # idempotency key: the event's id
        sa.Column("ordering_key", sa.String(200), nullable=True),  # e.g. the lead: its items keep their order
        sa.Column("kind", sa.String(60), nullable=False),  # the event type
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),  # pending | delivered | skipped | dead
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),  # why skipped or dead, or the last transient error
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("consumer", "key", name="uq_outbox_consumer_key"),
        # Each consumer's oldest pending items. Partial: delivered rows, the great majority, stay out of
        # it, so settling a batch removes index entries instead of moving them.
        sa.Index("ix_outbox_pending", "consumer", "id", sqlite_where=sa.text("state = 'pending'"),
                 postgresql_where=sa.text("state = 'pending'")),
    )
    op.create_table(
        "outbox_consumers",
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer, nullable=False),  # consecutive failed batches, for the backoff
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pause_reason", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "crm_records",
        sa.Column("connector", sa.String(100), primary_key=True),
        sa.Column("lead_id", sa.String(200), primary_key=True),
        sa.Column("email", sa.String(320), nullable=True, index=True),  # lower case
        sa.Column("person", sa.JSON, nullable=False),
        sa.Column("company", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),  # when the CRM last changed it
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "crm_sync_state",
        sa.Column("connector", sa.String(100), primary_key=True),
        sa.Column("cursor", sa.Text, nullable=True),
        sa.Column("rows", sa.BigInteger, nullable=False),  # records stored by all pulls so far
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "crm_activities",
        sa.Column("connector", sa.String(100), primary_key=True),
        sa.Column("activity_id", sa.String(200), primary_key=True),  # the CRM's own id (Marketo: marketoGUID)
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("type_id", sa.Integer, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("primary_value", sa.Text, nullable=True),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Index("ix_crm_activities_lead", "connector", "lead_id"),
    )
    op.create_table(
        "crm_sync_leases",
        sa.Column("connector", sa.String(100), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "limiters",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),  # written to take the lock
    )
    op.create_table(
        "limiter_calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("limiter", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_limiter_calls_limiter_at", "limiter", "at"),
    )
    op.create_table(
        "limiter_days",
        sa.Column("limiter", sa.String(100), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("calls", sa.Integer, nullable=False),
    )
    op.create_table(
        "limiter_slots",
        sa.Column("token", sa.String(40), primary_key=True),
        sa.Column("limiter", sa.String(100), nullable=False, index=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop them (and every row in them)."""
    op.drop_table("limiter_slots")
    op.drop_table("limiter_days")
    op.drop_table("limiter_calls")
    op.drop_table("limiters")
    op.drop_table("crm_sync_leases")
    op.drop_table("crm_activities")
    op.drop_table("crm_sync_state")
    op.drop_table("crm_records")
    op.drop_table("outbox_consumers")
    op.drop_table("outbox")
    op.drop_table("dialogue_versions")
    op.drop_table("events")
    op.drop_table("transcript")
    op.drop_table("sessions")
    op.drop_table("visitors")

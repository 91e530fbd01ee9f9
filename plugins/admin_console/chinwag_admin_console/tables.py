"""The console's own tables, declared on its own ``metadata`` and registered with ``register_tables``.

Secrets are never stored as given: passwords as Argon2 hashes, session, invite and API tokens as
SHA-256 digests (a stolen database lets nobody sign in or call the API).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# People who use the console. ``password_hash`` is None until an invited user sets a password.
users = sa.Table(
    "console_users",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),  # lower case
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),  # admin | marketer | agent
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# A signed-in browser: the cookie carries the (signed) token whose digest is ``id``.
sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(40), nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

# A one-time link with which an invited user sets their password.
invites = sa.Table(
    "console_invites",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # the token's digest
    sa.Column("user_id", sa.String(40), nullable=False, index=True),
    sa.Column("created_by", sa.String(320), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

# A user's token for the admin JSON API (``Authorization: Bearer ...``), shown once when made.
api_tokens = sa.Table(
    "console_api_tokens",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # the token's digest
    sa.Column("user_id", sa.String(40), nullable=False, index=True),
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
)

# Failed sign-ins, per email and per client address, counted over a window to slow guessing.
login_failures = sa.Table(
    "console_login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(400), nullable=False),  # "email:<address>" or "address:<ip>"
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("console_login_failures_key_at", "key", "at"),
)

# Who changed what, when: every change made through the console or its command line.
audit_log = sa.Table(
    "console_audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor", sa.String(320), nullable=False),  # a user's email, or "command line"
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("subject", sa.String(400), nullable=False),
    sa.Column("detail", sa.JSON, nullable=True),
)

"""Console users: roles, creating and inviting, signing in, disabling, API tokens.

Roles, as the reference product splits the work:

* ``admin``: everything, including users, integrations and the audit log;
* ``marketer``: reports, dialogues and publishing, the theme;
* ``agent``: their own calendar, availability and meetings (their email must be an agent's in
  chinwag.yaml).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import secrets
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa
from chinwag.store import utc, utcnow

from . import audit
from .passwords import hash_password, needs_rehash, verify_password
from .tables import api_tokens, invites, sessions, users

if TYPE_CHECKING:
    from chinwag.app import Chinwag

ROLES = ("admin", "marketer", "agent")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
INVITE_DAYS = 7


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


@attrs.frozen
class User:
    """A console user as the pages see them."""

    id: str
    email: str
    name: str
    role: str
    active: bool  # has a password and is not disabled
    disabled: bool
    created_at: dt.datetime

    @property
    def is_admin(self) -> bool:
        """Whether the user may do everything."""
        return self.role == "admin"


def digest(token: str) -> str:
    """The SHA-256 digest under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalised_email(email: str) -> str:
    """``email`` trimmed and lower case; UserError when it is not an address."""
    email = (email or "").strip().lower()
    if len(email) > 320 or not EMAIL.match(email):
        raise UserError(f"{email!r} is not an email address")
    return email


def user_from_row(row: Any) -> User:
    """A ``User`` from a row of ``console_users``."""
    return User(row.id, row.email, row.name, row.role, bool(row.password_hash) and not row.disabled,
                bool(row.disabled), utc(row.created_at))  # type: ignore[arg-type]


def _check_role(app: Chinwag, role: str, email: str) -> None:
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "agent" and email not in agent_emails(app):
        raise UserError(f"{email} is not listed under agents: in chinwag.yaml, so cannot be an agent user")


def agent_emails(app: Chinwag) -> set[str]:
    """The emails of the agents chinwag.yaml lists under ``agents:`` (lower case)."""
    listed = app.config.sections.get("agents") or []
    return {str(item.get("email", "")).strip().lower() for item in listed if isinstance(item, dict)}


async def create_user(app: Chinwag, email: str, role: str, password: str | None, name: str = "",
                      by: str = audit.COMMAND_LINE) -> User:
    """Add a user; with no ``password`` they get one through an invite. UserError when the email is
    taken, the role unknown, an agent not in chinwag.yaml or the password too weak."""
    email = normalised_email(email)
    _check_role(app, role, email)
    # Argon2 takes a moment of CPU on purpose: off the event loop, so chats go on meanwhile.
    hashed = await asyncio.to_thread(hash_password, password) if password is not None else None
    now = utcnow()
    user_id = secrets.token_hex(8)
    async with app.store.transaction() as connection:
        taken = (await connection.execute(sa.select(users.c.id).where(users.c.email == email))).first()
        if taken is not None:
            raise UserError(f"{email} already has a console user")
        await connection.execute(sa.insert(users).values(
            id=user_id, email=email, name=(name or email.split("@")[0]).strip()[:200], role=role, password_hash=hashed,
            disabled=False, created_at=now, updated_at=now))
        await audit.record(connection, by, "user.created", email, {"role": role})
    return await get_user(app, user_id)  # type: ignore[return-value]


async def get_user(app: Chinwag, user_id: str) -> User | None:
    """The user with ``user_id``, or None."""
    async with app.store.connect() as connection:
        row = (await connection.execute(sa.select(users).where(users.c.id == user_id))).first()
    return user_from_row(row) if row is not None else None


async def list_users(app: Chinwag) -> list[User]:
    """Every user, by email."""
    async with app.store.connect() as connection:
        rows = (await connection.execute(sa.select(users).order_by(users.c.email))).all()
    return [user_from_row(row) for row in rows]


async def invite(app: Chinwag, email: str, role: str, name: str = "", by: str = audit.COMMAND_LINE) -> str:
    """Create the user without a password (or take an existing one who has none) and return a
    one-time invite token, valid ``INVITE_DAYS`` days; earlier invites of the user stop working."""
    email = normalised_email(email)
    async with app.store.connect() as connection:
        row = (await connection.execute(sa.select(users).where(users.c.email == email))).first()
    if row is None:
        user = await create_user(app, email, role, None, name, by)
    elif row.password_hash:
        raise UserError(f"{email} already has a password; they sign in as they are")
    else:
        user = user_from_row(row)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    async with app.store.transaction() as connection:
        await connection.execute(sa.delete(invites).where(invites.c.user_id == user.id))
        await connection.execute(sa.insert(invites).values(
            id=digest(token), user_id=user.id, created_by=by, created_at=now,
            expires_at=now + dt.timedelta(days=INVITE_DAYS)))
        await audit.record(connection, by, "user.invited", email, {"role": user.role})
    return token


async def invited_user(app: Chinwag, token: str) -> User | None:
    """The user an unexpired invite token is for, or None."""
    async with app.store.connect() as connection:
        row = (await connection.execute(sa.select(invites.c.user_id, invites.c.expires_at).where(
            invites.c.id == digest(token)))).first()
    if row is None or utc(row.expires_at) <= utcnow():  # type: ignore[operator]
        return None
    user = await get_user(app, row.user_id)
    return user if user is not None and not user.disabled else None


async def accept_invite(app: Chinwag, token: str, password: str) -> User:
    """Set the invited user's password and spend the invite; UserError when it is unknown or used."""
    user = await invited_user(app, token)
    if user is None:
        raise UserError("this invite link is unknown, used or expired; ask an admin for a new one")
    hashed = await asyncio.to_thread(hash_password, password)
    async with app.store.transaction() as connection:
        spent = await connection.execute(sa.delete(invites).where(invites.c.id == digest(token)))
        if not spent.rowcount:
            raise UserError("this invite link was just used")
        await connection.execute(sa.update(users).where(users.c.id == user.id).values(
            password_hash=hashed, updated_at=utcnow()))
        await audit.record(connection, user.email, "user.password_set", user.email, {"via": "invite"})
    return await get_user(app, user.id)  # type: ignore[return-value]


async def authenticate(app: Chinwag, email: str, password: str) -> User | None:
    """The active user with this email and password, or None (the same work either way)."""
    try:
        email = normalised_email(email)
    except UserError:
        email = ""
    async with app.store.connect() as connection:
        row = (await connection.execute(sa.select(users).where(users.c.email == email))).first()
    stored = row.password_hash if row is not None else None
    if not await asyncio.to_thread(verify_password, stored, password) or row is None or row.disabled:
        return None
    if needs_rehash(stored):  # type: ignore[arg-type]
        rehashed = await asyncio.to_thread(hash_password, password)
        async with app.store.transaction() as connection:
            await connection.execute(sa.update(users).where(users.c.id == row.id).values(password_hash=rehashed))
    return user_from_row(row)


async def set_disabled(app: Chinwag, email: str, disabled: bool, by: str = audit.COMMAND_LINE) -> User:
    """Disable (signed out everywhere, tokens refused) or enable a user; UserError for the last admin."""
    email = normalised_email(email)
    async with app.store.transaction() as connection:
        row = (await connection.execute(sa.select(users).where(users.c.email == email))).first()
        if row is None:
            raise UserError(f"no console user {email}")
        if disabled and row.role == "admin":
            admins = (await connection.execute(sa.select(sa.func.count()).select_from(users).where(
                users.c.role == "admin", users.c.disabled.is_(False), users.c.id != row.id))).scalar()
            if not admins:
                raise UserError("the last active admin cannot be disabled")
        await connection.execute(sa.update(users).where(users.c.id == row.id).values(disabled=disabled, updated_at=utcnow()))
        if disabled:
            await connection.execute(sa.delete(sessions).where(sessions.c.user_id == row.id))
        await audit.record(connection, by, "user.disabled" if disabled else "user.enabled", email)
    return await get_user(app, row.id)  # type: ignore[return-value]


async def create_api_token(app: Chinwag, user: User, label: str) -> str:
    """A new admin API token for ``user`` (returned once; only its digest is kept)."""
    label = (label or "").strip()[:100] or "API token"
    token = "cwu_" + secrets.token_urlsafe(32)
    async with app.store.transaction() as connection:
        await connection.execute(sa.insert(api_tokens).values(id=digest(token), user_id=user.id, label=label,
                                                              created_at=utcnow()))
        await audit.record(connection, user.email, "api_token.created", user.email, {"label": label})
    return token


async def user_tokens(app: Chinwag, user: User) -> list[Any]:
    """The user's API tokens (label, made, last used; never the token)."""
    async with app.store.connect() as connection:
        return (await connection.execute(sa.select(api_tokens).where(api_tokens.c.user_id == user.id).order_by(
            api_tokens.c.created_at))).all()


async def revoke_api_token(app: Chinwag, user: User, token_id: str) -> None:
    """Delete one of ``user``'s API tokens (by digest)."""
    async with app.store.transaction() as connection:
        result = await connection.execute(sa.delete(api_tokens).where(api_tokens.c.id == token_id,
                                                                      api_tokens.c.user_id == user.id))
        if result.rowcount:
            await audit.record(connection, user.email, "api_token.revoked", user.email)


async def token_user(app: Chinwag, token: str) -> User | None:
    """The active user an API token belongs to (its last use noted), or None."""
    if not token.startswith("cwu_") or len(token) > 200:
        return None
    async with app.store.connect() as connection:
        row = (await connection.execute(sa.select(users).join(api_tokens, api_tokens.c.user_id == users.c.id).where(
            api_tokens.c.id == digest(token)))).first()
    if row is None or row.disabled or not row.password_hash:
        return None
    async with app.store.transaction() as connection:
        await connection.execute(sa.update(api_tokens).where(api_tokens.c.id == digest(token)).values(last_used_at=utcnow()))
    return user_from_row(row)

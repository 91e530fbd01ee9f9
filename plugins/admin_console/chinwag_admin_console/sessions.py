"""Signed-in browsers: session rows, the signed session cookie and CSRF tokens.

The cookie holds a random token signed with itsdangerous; the database keeps only the token's
digest, the user and the session's CSRF token, so signing out, disabling a user or the session
expiring ends it on every process. The signing key is derived from ``CHINWAG_SECRET_KEY`` (the
key that already encrypts calendar tokens); without it each process makes up its own, which
works for one process and signs everyone out when it restarts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
from typing import TYPE_CHECKING

import attrs
import sqlalchemy as sa
from chinwag.store import utc, utcnow
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from .tables import sessions, users
from .users import User, digest, user_from_row

if TYPE_CHECKING:
    from chinwag.app import Chinwag

log = logging.getLogger("chinwag.console")
COOKIE = "chinwag_console"
LOGIN_CSRF_COOKIE = "chinwag_console_login"
PATH = "/-/console"
LIFETIME = dt.timedelta(hours=12)


@attrs.frozen
class SignedIn:
    """A request's session: who, and the CSRF token every form of theirs must carry."""

    user: User
    session_id: str
    csrf: str


class CookieSigner:
    """Signs and reads the console's cookies with a key from the environment."""

    def __init__(self) -> None:
        secret = os.environ.get("CHINWAG_SECRET_KEY")
        if secret:
            key = hmac.new(secret.encode(), b"chinwag admin console cookies", hashlib.sha256).hexdigest()
        else:
            log.warning("CHINWAG_SECRET_KEY is not set: console sign-ins last only as long as this process")
            key = secrets.token_hex(32)
        self._serializer = URLSafeTimedSerializer(key, salt="chinwag-console")

    def sign(self, value: str) -> str:
        """``value`` with a timestamped signature."""
        return self._serializer.dumps(value)

    def read(self, signed: str | None, max_age: dt.timedelta) -> str | None:
        """The value of a cookie this signer made within ``max_age``, or None."""
        if not signed or len(signed) > 400:
            return None
        try:
            value = self._serializer.loads(signed, max_age=int(max_age.total_seconds()))
        except BadSignature:
            return None
        return value if isinstance(value, str) else None


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: dt.timedelta) -> None:
    """A console cookie: HttpOnly, SameSite=Lax, Secure over https, scoped to the console's path."""
    response.set_cookie(name, value, max_age=int(max_age.total_seconds()), path=PATH, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")


async def start_session(app: Chinwag, signer: CookieSigner, request: Request, response: Response, user: User) -> None:
    """Record a new session for ``user`` and set its cookie on ``response``."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    async with app.store.transaction() as connection:
        await connection.execute(sa.delete(sessions).where(sessions.c.expires_at < now))  # sweep the expired
        await connection.execute(sa.insert(sessions).values(id=digest(token), user_id=user.id, csrf=secrets.token_urlsafe(32),
                                                            created_at=now, expires_at=now + LIFETIME))
    set_cookie(request, response, COOKIE, signer.sign(token), LIFETIME)


async def signed_in(app: Chinwag, signer: CookieSigner, request: Request) -> SignedIn | None:
    """The request's live session (an enabled user, not expired), or None."""
    token = signer.read(request.cookies.get(COOKIE), LIFETIME)
    if token is None:
        return None
    async with app.store.connect() as connection:
        row = (await connection.execute(sa.select(users, sessions.c.id.label("session_id"), sessions.c.csrf,
                                                  sessions.c.expires_at).join(
            sessions, sessions.c.user_id == users.c.id).where(sessions.c.id == digest(token)))).first()
    if row is None or row.disabled or not row.password_hash or utc(row.expires_at) <= utcnow():  # type: ignore[operator]
        return None
    return SignedIn(user_from_row(row), row.session_id, row.csrf)


async def end_session(app: Chinwag, session_id: str, response: Response) -> None:
    """Delete the session and its cookie."""
    async with app.store.transaction() as connection:
        await connection.execute(sa.delete(sessions).where(sessions.c.id == session_id))
    response.delete_cookie(COOKIE, path=PATH)


def csrf_matches(expected: str, given: object) -> bool:
    """Whether a form's CSRF field is the session's token (compared in constant time)."""
    return isinstance(given, str) and secrets.compare_digest(expected.encode(), given.encode())

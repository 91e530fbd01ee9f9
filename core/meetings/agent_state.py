"""Agents in the database: calendar connection, stored (encrypted) tokens, status, queue order.

Status: ``not_connected`` (never connected), ``connected`` (in the routing queue) or
``needs_reconnect`` (the provider revoked or expired the grant; out of the queue until the agent
connects again). Nothing here raises on a revoked grant: it is recorded and the agent skipped.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import sqlalchemy as sa

from ..calendars import Grant, GrantRevoked
from ..credentials import Credentials, CredentialsKeyMissing, CredentialsUnreadable, generate_key
from .settings import meeting_settings
from .tables import agents as agent_rows
from .tables import connect_requests
from ..mounted_sandboxes import in_sandbox, sandbox_grant_tokens
from .state import MeetingsState
from .token_lock import refresh_lock
from ..store import utc, utcnow

if TYPE_CHECKING:
    from ..app import Chinwag

log = logging.getLogger("chinwag.meetings.agents")
CONNECTED, NEEDS_RECONNECT, NOT_CONNECTED = "connected", "needs_reconnect", "not_connected"
Result = TypeVar("Result")


@attrs.frozen
class AgentStatus:
    """One line of ``chinwag agents list``."""

    position: int
    email: str
    name: str
    provider: str | None
    status: str
    reason: str | None


def load_credentials(app: Chinwag, has_stored_tokens: bool) -> Credentials | None:
    """The token cipher from ``CHINWAG_SECRET_KEY``.

    In demo mode (``chinwag serve --demo``, or every agent on a sandbox calendar) a missing key is
    replaced by a throwaway one, loudly; otherwise a missing key is an error only when tokens are
    already stored (there is nothing to read them with).
    """
    try:
        return Credentials.from_environment()
    except CredentialsKeyMissing:
        agents = meeting_settings(app).agents.values()
        all_sandboxed = bool(agents) and all(in_sandbox(app.calendar_providers.get(a.provider)) for a in agents)
        if os.environ.get("CHINWAG_DEMO") or all_sandboxed:
            log.warning("!" * 72)
            log.warning("DEMO MODE: CHINWAG_SECRET_KEY is not set; calendar tokens are encrypted with a throwaway")
            log.warning("key that dies with this process. Never run a real deployment like this.")
            log.warning("!" * 72)
            app.plugin_state(MeetingsState).throwaway_key = True
            return Credentials(generate_key())
        if has_stored_tokens:
            raise
        return None


def credentials(app: Chinwag) -> Credentials:
    """The app's token cipher; raise ``CredentialsKeyMissing`` (a clear message) when unset.

    A command loads it here, on first use, so only commands that encrypt or decrypt tokens say
    (in demo mode) that they use a throwaway key.
    """
    state = app.plugin_state(MeetingsState)
    if state.credentials is None:
        state.credentials = load_credentials(app, has_stored_tokens=True)
    assert state.credentials is not None  # load_credentials raises rather than return None here
    return state.credentials


async def sync_agents(app: Chinwag) -> None:
    """Add agents new in chinwag.yaml at the end of the queue; in a serving process, set up the token
    cipher (refusing to start when stored tokens cannot be read) and connect sandbox agents."""
    settings = meeting_settings(app)
    async with app.store.transaction() as connection:
        rows = {row.email: row for row in await connection.execute(sa.select(agent_rows))}
        position = max((row.position for row in rows.values()), default=0)
        for agent in settings.agents.values():
            if agent.email not in rows:
                position += 1
                await connection.execute(sa.insert(agent_rows).values(
                    email=agent.email, provider=agent.provider, calendar_id=agent.calendar_id, status=NOT_CONNECTED,
                    position=position, updated_at=utcnow()))
    state = app.plugin_state(MeetingsState)
    if not state.serving:
        return  # a command-line run: the key is loaded when a token is read or written (``credentials``)
    state.credentials = load_credentials(app, any(row.credentials for row in rows.values()))
    for agent in settings.agents.values():
        provider = app.calendar_providers.get(agent.provider)
        if in_sandbox(provider):  # a fresh sandbox knows no earlier tokens: connect again
            await store_tokens(app, agent.email, agent.provider, sandbox_grant_tokens(provider, agent.email))


async def queue(app: Chinwag) -> list[AgentStatus]:
    """Every configured agent in queue order, with status."""
    settings = meeting_settings(app)
    async with app.store.connect() as connection:
        rows = (await connection.execute(sa.select(agent_rows).order_by(agent_rows.c.position))).all()
    return [AgentStatus(index + 1, row.email, settings.agents[row.email].name, row.provider, row.status, row.status_reason)
            for index, row in enumerate(row for row in rows if row.email in settings.agents)]


async def connected_in_order(app: Chinwag, emails: tuple[str, ...]) -> list[str]:
    """The connected agents among ``emails``, in queue order."""
    async with app.store.connect() as connection:
        rows = await connection.execute(sa.select(agent_rows.c.email).where(
            agent_rows.c.email.in_(emails), agent_rows.c.status == CONNECTED).order_by(agent_rows.c.position))
        return list(rows.scalars())


async def set_order(app: Chinwag, emails: list[str]) -> None:
    """Put ``emails`` first in the queue, in that order; the others keep their order after them."""
    current = [status.email for status in await queue(app)]
    wanted = [email.lower() for email in emails]
    unknown = [email for email in wanted if email not in current]
    if unknown:
        raise ValueError(f"unknown agent(s): {', '.join(unknown)}")
    order = wanted + [email for email in current if email not in wanted]
    async with app.store.transaction() as connection:
        for position, email in enumerate(order, start=1):
            await connection.execute(sa.update(agent_rows).where(agent_rows.c.email == email).values(position=position))


async def start_connect(app: Chinwag, email: str, provider_name: str) -> str:
    """Record a connect request and return the provider's consent URL for the agent to open."""
    settings = meeting_settings(app)
    email = email.lower()
    if email not in settings.agents:
        raise ValueError(f"{email} is not listed under agents: in chinwag.yaml")
    if settings.agents[email].provider != provider_name:
        raise ValueError(f"{email} uses the {settings.agents[email].provider} provider in chinwag.yaml, not {provider_name}")
    provider = app.calendar_providers.get(provider_name)
    if provider is None:
        raise ValueError(f"no calendar provider {provider_name!r} is installed")
    nonce = secrets.token_urlsafe(32)
    redirect_uri = f"{app.config.public_url}/-/oauth/{provider_name}/callback"
    async with app.store.transaction() as connection:
        await connection.execute(sa.insert(connect_requests).values(
            nonce=nonce, agent_email=email, provider=provider_name, redirect_uri=redirect_uri, created_at=utcnow()))
    return provider.authorization_url(app, nonce, redirect_uri, login_hint=settings.agents[email].calendar_owner)


async def take_connect_request(app: Chinwag, nonce: str, max_age_seconds: int = 3600) -> Any:
    """The connect request for ``nonce`` (deleted: single use), or None when unknown or stale."""
    async with app.store.transaction() as connection:
        row = (await connection.execute(sa.select(connect_requests).where(connect_requests.c.nonce == nonce))).first()
        if row is None:
            return None
        await connection.execute(sa.delete(connect_requests).where(connect_requests.c.nonce == nonce))
    age = (utcnow() - utc(row.created_at)).total_seconds()  # type: ignore[operator]
    return row if age <= max_age_seconds else None


async def store_tokens(app: Chinwag, email: str, provider: str, tokens: dict[str, Any]) -> None:
    """Keep the tokens encrypted and put the agent (back) in the queue."""
    encrypted = credentials(app).encrypt(tokens)
    async with app.store.transaction() as connection:
        await connection.execute(sa.update(agent_rows).where(agent_rows.c.email == email).values(
            provider=provider, credentials=encrypted, status=CONNECTED, status_reason=None, updated_at=utcnow()))


async def rekey(app: Chinwag) -> int:
    """Re-encrypt every agent's stored tokens with the first key of ``CHINWAG_SECRET_KEY`` (after
    a new key was put first), so the keys after it can be dropped; return how many were rewritten.

    One transaction: tokens no configured key can read stop it and change nothing
    (``CredentialsUnreadable``, naming the agent). A row a server refreshed meanwhile is left as it
    is (the server wrote it with the same first key)."""
    cipher = credentials(app)
    rewritten = 0
    async with app.store.transaction() as connection:
        rows = (await connection.execute(sa.select(agent_rows.c.email, agent_rows.c.credentials).where(
            agent_rows.c.credentials.is_not(None)))).all()
        for email, stored in rows:
            try:
                fresh = cipher.rotate(stored)
            except CredentialsUnreadable as error:
                raise CredentialsUnreadable(f"{email}: {error}") from error
            result = await connection.execute(sa.update(agent_rows).where(
                agent_rows.c.email == email, agent_rows.c.credentials == stored).values(credentials=fresh))
            rewritten += result.rowcount
    return rewritten


async def mark_needs_reconnect(app: Chinwag, email: str, reason: str) -> None:
    """Take the agent out of the queue until they connect again, saying why."""
    from ..links import AGENT, page_url
    from ..notifications import CALENDAR_NEEDS_RECONNECT, Notification
    from ..notifications.delivery import enqueue_notification

    log.warning("agent %s needs to reconnect their calendar: %s", email, reason)
    now = utcnow()
    async with app.store.transaction() as connection:
        before, provider = (await connection.execute(sa.select(agent_rows.c.status, agent_rows.c.provider).where(
            agent_rows.c.email == email))).first() or (None, None)
        await connection.execute(sa.update(agent_rows).where(agent_rows.c.email == email).values(
            status=NEEDS_RECONNECT, status_reason=reason, updated_at=now))
        if before is not None and before != NEEDS_RECONNECT:  # told once, when it happens
            agent = meeting_settings(app).agents.get(email)
            await enqueue_notification(connection, app, Notification(
                CALENDAR_NEEDS_RECONNECT, f"reconnect-{email}-{now.strftime('%Y%m%dT%H%M%S%f')}", now, email,
                {"agent_name": agent.name if agent else email, "reason": reason, "provider": provider,
                 "connect_url": await page_url(app, AGENT, email)}))


async def load_grant(app: Chinwag, email: str) -> Grant | None:
    """The agent's decrypted grant, whose refreshed tokens are saved back encrypted; None if unusable."""
    async with app.store.connect() as connection:
        row = (await connection.execute(sa.select(agent_rows).where(agent_rows.c.email == email))).first()
    if row is None or row.status != CONNECTED or not row.credentials:
        return None
    try:
        tokens = credentials(app).decrypt(row.credentials)
    except CredentialsUnreadable as error:
        if app.plugin_state(MeetingsState).throwaway_key:  # another demo process's tokens: not this agent's fault
            log.warning("cannot read %s's calendar tokens with this process's throwaway key", email)
            return None
        await mark_needs_reconnect(app, email, str(error))
        return None

    async def save(new_tokens: dict[str, Any]) -> None:
        encrypted = credentials(app).encrypt(new_tokens)
        async with app.store.transaction() as connection:
            await connection.execute(sa.update(agent_rows).where(agent_rows.c.email == email).values(
                credentials=encrypted, updated_at=utcnow()))

    return Grant(email, row.calendar_id or "", tokens, save, locker=lambda: refresh_lock(app, email))


async def with_grant(app: Chinwag, email: str, call: Callable[[Any, Grant], Awaitable[Result]]) -> Result | None:
    """``await call(provider, grant)`` for a connected agent; None when the agent is unusable.

    A revoked grant is tried once more with the tokens stored now (another process may have
    rotated them meanwhile); revoked again, the agent is marked ``needs_reconnect``.
    """
    settings = meeting_settings(app)
    provider = app.calendar_providers.get(settings.agents[email].provider)
    for attempt in (1, 2):
        grant = await load_grant(app, email)
        if grant is None or provider is None:
            return None
        before = dict(grant.tokens)
        try:
            return await call(provider, grant)
        except GrantRevoked as error:
            reloaded = await load_grant(app, email)
            if attempt == 2 or reloaded is None or reloaded.tokens == before:
                await mark_needs_reconnect(app, email, str(error))
                return None
    return None

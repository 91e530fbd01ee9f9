"""``chinwag serve --demo`` (``make run``): demo users with a password made up at each start, printed
with the console's URL, and, on a fresh demo database, a few real chats so the pages have data.

The chats are played over the server's own WebSocket, as visitors would (the same road as any
chat: sessions, events, outbox, the sandboxes' calendars), once the server listens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from chinwag.store import utcnow

from .passwords import hash_password
from .tables import users
from .users import UserError, agent_emails, create_user, normalised_email

if TYPE_CHECKING:
    from chinwag.app import Chinwag

log = logging.getLogger("chinwag.console")
DEMO_USERS = (("admin@example.com", "admin", "Demo Admin"), ("marketer@example.com", "marketer", "Demo Marketer"),
              ("ada@example.com", "agent", "Ada Lovelace"))
# The answers of the demo's visitors on the quickstart's welcome dialogue. None books a meeting: the
# sandbox calendars stay the person's to try.
DEMO_CHATS = (
    ("browsing",), ("browsing",), ("pricing", "Grace", "grace@northwind.example", "11-50"),
    ("demo", "Alan", "alan@contoso.example", "51-200", "+44 20 7946 0958"),
    ("pricing", "Katherine", "katherine@fabrikam.example", "200+"), ("demo", "Linus"),
    ("demo", "Margaret", "margaret@adatum.example", "1-10"), ("pricing",),
)


async def prepare_demo(app: Chinwag) -> None:
    """Give each demo user a new password, say where to sign in, and seed chats on a fresh database.

    Run in the background once the server starts (the password's hash takes a moment)."""
    try:
        password = secrets.token_urlsafe(12)
        hashed = await asyncio.to_thread(hash_password, password)  # once: the demo users share it
        agents = agent_emails(app)
        names = []
        for email, role, name in DEMO_USERS:
            if role == "agent" and email not in agents:
                continue
            await _with_password(app, email, role, name, hashed)
            names.append(f"{email} ({role})")
        base = (app.served_at or app.config.public_url or "http://127.0.0.1:8000").rstrip("/")
        banner = (f"Admin console: {base}/-/console/  sign in as {', '.join(names)} with the password {password} "
                  "(made up at each demo start)")
        log.warning(banner)
        print(banner, flush=True)  # the demo's one line to look for, whatever the log level
        # CHINWAG_DEMO_CHATS=0 leaves a fresh demo database empty (a test that counts its own chats).
        if app.served_at and os.environ.get("CHINWAG_DEMO_CHATS", "1") != "0" and await _fresh(app):
            await _seed_chats(app.served_at)
    except Exception:  # a demo nicety: the server goes on without it
        log.exception("could not prepare the console's demo")


async def _with_password(app: Chinwag, email: str, role: str, name: str, hashed: str) -> None:
    """The demo user, made if missing, with the password of ``hashed`` and enabled."""
    email = normalised_email(email)
    try:
        await create_user(app, email, role, None, name, by="demo")
    except UserError:
        pass  # there already: a new password below
    async with app.store.transaction() as connection:
        await connection.execute(sa.update(users).where(users.c.email == email).values(
            password_hash=hashed, disabled=False, updated_at=utcnow()))


async def _fresh(app: Chinwag) -> bool:
    """Whether no dialogue was ever shown (a new demo database)."""
    from chinwag.reports import ReportPeriod, count_of

    return await count_of(app, "triggered", ReportPeriod.last_days(3650)) == 0


async def _seed_chats(served_at: str) -> None:
    """Play ``DEMO_CHATS`` once the server answers; a failure is logged, never raised."""
    import httpx

    try:
        async with httpx.AsyncClient() as client:
            for _ in range(100):
                try:
                    if (await client.get(f"{served_at}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        for answers in DEMO_CHATS:
            await _chat(served_at, answers)
        log.info("the demo's %d chats are played: the console's pages have data", len(DEMO_CHATS))
    except Exception:  # a demo nicety: the server goes on without it
        log.exception("could not play the demo's chats")


async def _chat(served_at: str, answers: tuple[str, ...]) -> None:
    """One visitor: hello, then each answer to the question asked, until the answers run out."""
    import websockets

    url = served_at.replace("http://", "ws://").replace("https://", "wss://") + "/ws"
    async with websockets.connect(url, origin=served_at) as socket:
        await socket.send(json.dumps({"type": "hello", "protocol": 1, "visitor": None, "session": None,
                                      "page": {"url": f"{served_at}/"}, "timezone": "Europe/London",
                                      "locale": "en-GB"}))
        for answer in answers:
            question = await _next_question(socket)
            if question is None:
                return
            await socket.send(json.dumps({"type": "answer", "question": question["id"], "value": answer}))
        await asyncio.sleep(0.2)


async def _next_question(socket: Any) -> dict[str, Any] | None:
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), 15))
        if frame.get("type") == "question":
            return frame
        if frame.get("type") == "error":
            return None
        if frame.get("type") == "welcome" and frame.get("awaiting"):
            return next((f for f in reversed(frame.get("transcript") or []) if f.get("type") == "question"), None)

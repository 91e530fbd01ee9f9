"""Limits that keep a public chat endpoint from being abused (``limits:`` in chinwag.yaml).

The chat WebSocket is open to anyone, so a project may cap, per client address, the connections
open at once and the ``hello`` frames per period; per connection, the frames per second; per
e-mail address and day, and per visitor, the meetings booked; and refuse e-mail addresses of
blocked domains in captures and bookings (up to 50 domains, like the reference product's list).

Counts that must hold across server processes live in the database, in ``limit_counts``: one row
per counted thing (``hellos:<address>:<window>``, ``connections:<address>``,
``meetings:<email>:<day>``, ``meetings-visitor:<id>``), taken with one conditional upsert
(``take``), so two processes never both take the last place, on PostgreSQL and SQLite alike.
Frames per second are counted in the connection itself, which lives in one process.

Over a limit a client gets a clear error frame (``rate_limited``, ``too_many_connections``) or,
for a blocked e-mail domain, an ``invalid`` answer; nothing is stored, so no visitor, session or
event inflates the report.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import math
import random
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from starlette.websockets import WebSocket

from .problems import Problem
from .protocol import encode, error_frame
from .store import RETRY_AFTER_SECONDS, Store, utcnow
from .yamlfile import line_of

if TYPE_CHECKING:
    from .app import Chinwag

log = logging.getLogger("chinwag.limits")

MAX_BLOCKED_DOMAINS = 50
CONNECTION_LEASE = dt.timedelta(hours=1)  # a crashed process's connections are forgotten this long after the last
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")

metadata = sa.MetaData()

limit_counts = sa.Table(
    "limit_counts",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


@attrs.frozen
class Rate:
    """At most ``count`` in any fixed window of ``per_seconds``."""

    count: int
    per_seconds: float


@attrs.frozen
class LimitSettings:
    """The ``limits:`` section; None (the default) switches a limit off."""

    client_address_header: str | None = None
    connections_per_address: int | None = None
    hellos_per_address: Rate | None = None
    frames_per_second: int | None = None
    meetings_per_email_per_day: int | None = None
    meetings_per_visitor: int | None = None
    blocked_email_domains: tuple[str, ...] = ()

    def blocked_domain(self, email: Any) -> str | None:
        """The blocked domain ``email`` belongs to (the domain itself or a parent of it), if any."""
        if not self.blocked_email_domains or not isinstance(email, str) or email.count("@") != 1:
            return None
        domain = email.strip().rsplit("@", 1)[1].lower().rstrip(".")
        for blocked in self.blocked_email_domains:
            if domain == blocked or domain.endswith("." + blocked):
                return blocked
        return None


LIMIT_KEYS = ("client_address_header", "connections_per_address", "hellos_per_address", "frames_per_second",
              "meetings_per_email_per_day", "meetings_per_visitor", "blocked_email_domains")


def parse_limits(value: Any, raw: Any, file: str, problems: list[Problem]) -> LimitSettings:
    """The ``limits:`` section, each problem reported with its line."""
    node = raw.get("limits") if isinstance(raw, Mapping) else None
    if value is None:
        return LimitSettings()
    if not isinstance(value, Mapping):
        problems.append(Problem(file, line_of(raw, "limits"), "limits", "must be a mapping of limits"))
        return LimitSettings()
    settings: dict[str, Any] = {}

    def problem(key: str, message: str) -> None:
        problems.append(Problem(file, line_of(node, key), f"limits.{key}", message))

    for key, setting in value.items():
        if key not in LIMIT_KEYS:
            problem(str(key), f"unknown limit (known: {', '.join(LIMIT_KEYS)})")
        elif setting is None:
            continue
        elif key == "client_address_header":
            if not isinstance(setting, str) or not HEADER_NAME.match(setting):
                problem(key, "must be the name of the header your proxy sets, like X-Forwarded-For")
            else:
                settings[key] = setting
        elif key == "hellos_per_address":
            rate = _rate(setting)
            if rate is None:
                problem(key, "must be {count: N, per_seconds: S} with N and S above 0")
            else:
                settings[key] = rate
        elif key == "blocked_email_domains":
            domains = setting if isinstance(setting, list) else None
            if domains is None or not all(isinstance(d, str) and DOMAIN.match(d.lower()) for d in domains):
                problem(key, "must be a list of domains like mailinator.com")
            elif len(domains) > MAX_BLOCKED_DOMAINS:
                problem(key, f"at most {MAX_BLOCKED_DOMAINS} domains (got {len(domains)})")
            else:
                settings[key] = tuple(sorted({domain.lower() for domain in domains}))
        elif isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
            problem(key, "must be a whole number, at least 1 (or null for no limit)")
        else:
            settings[key] = setting
    return LimitSettings(**settings)


def _rate(value: Any) -> Rate | None:
    if not isinstance(value, Mapping) or set(value) != {"count", "per_seconds"}:
        return None
    count, per = value["count"], value["per_seconds"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return None
    if isinstance(per, bool) or not isinstance(per, (int, float)) or per <= 0:
        return None
    return Rate(count, float(per))


# -- who is asking -------------------------------------------------------------------------------

def client_address(headers: Mapping[str, str], peer: str | None, settings: LimitSettings) -> str:
    """The client's address: from ``client_address_header`` when the project trusts a proxy to set it
    (the right-most address, the one the nearest proxy added), else the connection's peer."""
    if settings.client_address_header:
        forwarded = headers.get(settings.client_address_header.lower(), "")
        candidate = forwarded.rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            pass  # missing or garbled: the peer is all there is
    return peer or "unknown"


# -- counts shared by every process --------------------------------------------------------------

async def take(store: Store, key: str, limit: int, expires_at: dt.datetime) -> bool:
    """Count one more under ``key`` unless ``limit`` is reached; whether it was counted.

    One conditional upsert: an expired count starts again at 1. Now and then expired rows are
    swept in the same transaction.
    """
    now = utcnow()
    async with store.transaction() as connection:
        insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(limit_counts)
        expired = limit_counts.c.expires_at <= now
        statement = insert.values(key=key, count=1, expires_at=expires_at).on_conflict_do_update(
            index_elements=["key"],
            set_={"count": sa.case((expired, 1), else_=limit_counts.c.count + 1),
                  "expires_at": sa.func.max(expires_at, limit_counts.c.expires_at)
                  if connection.dialect.name == "sqlite" else sa.func.greatest(expires_at, limit_counts.c.expires_at)},
            where=sa.or_(expired, limit_counts.c.count < limit),
        ).returning(limit_counts.c.count)
        taken = (await connection.execute(statement)).first() is not None
        if random.random() < 1 / 64:
            await connection.execute(sa.delete(limit_counts).where(expired))
    return taken


async def give_back(store: Store, key: str) -> None:
    """Uncount one under ``key`` (a connection closed, a booking that did not happen)."""
    async with store.transaction() as connection:
        await connection.execute(sa.update(limit_counts).where(limit_counts.c.key == key, limit_counts.c.count > 0)
                                 .values(count=limit_counts.c.count - 1))


async def counted(store: Store, key: str) -> int:
    """What is counted under ``key`` now."""
    async with store.connect() as connection:
        return int((await connection.execute(sa.select(limit_counts.c.count).where(
            limit_counts.c.key == key, limit_counts.c.expires_at > utcnow()))).scalar() or 0)


async def hello_wait(store: Store, settings: LimitSettings, address: str) -> int | None:
    """None when one more ``hello`` from ``address`` is within ``hellos_per_address`` (it is counted);
    else the whole seconds until the window ends and hellos are allowed again."""
    rate = settings.hellos_per_address
    if rate is None:
        return None
    now = time.time()
    window = int(now // rate.per_seconds)
    ends = (window + 1) * rate.per_seconds
    if await take(store, f"hellos:{address}:{window}", rate.count, dt.datetime.fromtimestamp(ends, dt.timezone.utc)):
        return None
    return max(1, math.ceil(ends - now))


def connections_key(address: str) -> str:
    """The count of ``address``'s open connections."""
    return f"connections:{address}"


async def open_connection(store: Store, settings: LimitSettings, address: str) -> bool:
    """Count a new connection from ``address``; False when it already has ``connections_per_address``."""
    if settings.connections_per_address is None:
        return True
    return await take(store, connections_key(address), settings.connections_per_address, utcnow() + CONNECTION_LEASE)


async def close_connection(store: Store, settings: LimitSettings, address: str) -> None:
    """Uncount a closed connection (counted by ``open_connection``)."""
    if settings.connections_per_address is not None:
        await give_back(store, connections_key(address))


async def admit_connection(websocket: WebSocket, app: Chinwag) -> str | None:
    """The client address of an accepted chat connection, counted; None when it was refused (told
    why in an error frame, and closed): too many connections from its address, or no database."""
    limits = app.config.limits
    address = client_address(websocket.headers, websocket.client.host if websocket.client else None, limits)
    try:
        allowed = await open_connection(app.store, limits, address)  # type: ignore[arg-type]
    except Exception:  # the count lives in the database: without it there is no chat either
        log.exception("could not count the connection from %s", address)
        await websocket.send_text(encode({**error_frame("unavailable", "the chat is briefly unavailable; please try "
                                                        "again in a few seconds"), "retry_after": RETRY_AFTER_SECONDS}))
        await websocket.close(code=1013)
        return None
    if not allowed:
        await websocket.send_text(encode(error_frame(
            "too_many_connections", "too many chat connections from your address; close another tab and try again")))
        await websocket.close(code=1008)
        return None
    return address


# -- meetings ------------------------------------------------------------------------------------

def meeting_keys(settings: LimitSettings, email: str, visitor_id: str) -> list[tuple[str, int, dt.datetime]]:
    """The counts a booking takes a place in: (key, limit, expiry)."""
    now = utcnow()
    keys = []
    if settings.meetings_per_email_per_day is not None:
        tomorrow = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
        keys.append((f"meetings:{email.strip().lower()}:{now.date().isoformat()}", settings.meetings_per_email_per_day,
                     tomorrow))
    if settings.meetings_per_visitor is not None:
        keys.append((f"meetings-visitor:{visitor_id}", settings.meetings_per_visitor, now + dt.timedelta(days=3650)))
    return keys


async def meeting_refusal(store: Store, settings: LimitSettings, email: str, visitor_id: str) -> str | None:
    """Why no meeting may be offered to ``email`` (a blocked domain, a limit reached), as the
    catalog key of what the visitor is told; None when one may."""
    if settings.blocked_domain(email):
        return BLOCKED_MEETING_TEXT
    for key, limit, _ in meeting_keys(settings, email, visitor_id):
        if await counted(store, key) >= limit:
            return MEETING_LIMIT_TEXT
    return None


async def take_meeting_places(store: Store, settings: LimitSettings, email: str, visitor_id: str) -> list[str] | None:
    """Take a place in every meeting count, or none (None when one is full)."""
    taken: list[str] = []
    for key, limit, expires_at in meeting_keys(settings, email, visitor_id):
        if not await take(store, key, limit, expires_at):
            for done in taken:
                await give_back(store, done)
            return None
        taken.append(key)
    return taken


# What the visitor is told, as keys of the catalog (``chinwag.languages``): said in their language.
BLOCKED_EMAIL_TEXT = "email_blocked"  # fills {domain}
BLOCKED_MEETING_TEXT = "meeting_blocked"
MEETING_LIMIT_TEXT = "meeting_limit"


# -- frames per connection -----------------------------------------------------------------------

class FrameBudget:
    """A token bucket of ``per_second`` frames (a burst of as many), for one connection."""

    def __init__(self, per_second: int | None) -> None:
        self.per_second = per_second
        self.tokens = float(per_second or 0)
        self.updated = time.monotonic()
        self.told = False

    def spend(self) -> bool:
        """Whether one more frame may be played now."""
        if self.per_second is None:
            return True
        now = time.monotonic()
        self.tokens = min(float(self.per_second), self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.told = False
            return True
        return False

    def tell(self) -> bool:
        """Whether to answer a refused frame with an error frame: once per run of refused frames."""
        told, self.told = self.told, True
        return not told

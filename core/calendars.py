"""The contract between chinwag and a calendar provider plugin (Google, Outlook, yours).

A provider is registered through ``register_calendar_providers``. It speaks its vendor's REST
API; chinwag handles agents, slots, routing and bookings. Times are aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import attrs


class CalendarError(Exception):
    """Base class of provider errors."""


class CalendarUnavailable(CalendarError):
    """The provider did not answer usefully after retries (outage, persistent rate limit)."""


class GrantRevoked(CalendarError):
    """The agent's authorization is revoked or expired for good: the agent must reconnect."""


@attrs.frozen
class Interval:
    """A half-open span of time [start, end), both aware datetimes."""

    start: dt.datetime
    end: dt.datetime


@attrs.define
class Grant:
    """An agent's stored credentials for one provider, decrypted.

    ``tokens`` holds what the provider needs (access token, refresh token, expiry...). A provider
    that refreshes tokens calls ``await grant.save(new_tokens)`` so the new ones are stored
    (encrypted) before they are used.
    """

    agent_email: str
    calendar_id: str
    tokens: dict[str, Any]
    saver: Callable[[dict[str, Any]], Awaitable[None]] | None = None

    async def save(self, tokens: Mapping[str, Any]) -> None:
        """Replace the tokens and persist them."""
        self.tokens = dict(tokens)
        if self.saver is not None:
            await self.saver(self.tokens)


@attrs.frozen
class EventRequest:
    """A meeting to create on the agent's calendar."""

    idempotency_key: str  # the same key never creates two events (Google event id, Graph transactionId)
    start: dt.datetime
    end: dt.datetime
    summary: str
    description: str
    attendee_email: str
    attendee_name: str | None = None
    time_zone: str = "UTC"
    online_meeting: bool = False  # Google Meet / Microsoft Teams link


@attrs.frozen
class CreatedEvent:
    """What the provider made: its id for the event and the online meeting link, if any."""

    remote_id: str
    join_url: str | None = None


class CalendarProvider(Protocol):
    """A calendar provider: OAuth connection plus free/busy and event calls."""

    name: str  # "google", "outlook", ...

    def authorization_url(self, app: Any, state: str, redirect_uri: str) -> str:
        """The consent URL an agent opens to connect their calendar."""

    async def exchange_code(self, app: Any, code: str, redirect_uri: str) -> dict[str, Any]:
        """Trade an authorization code for tokens (stored encrypted by chinwag)."""

    async def busy(self, app: Any, grant: Grant, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        """Busy intervals of the agent's calendar between ``start`` and ``end``."""

    async def create_event(self, app: Any, grant: Grant, event: EventRequest) -> CreatedEvent:
        """Create the meeting and send the invitation; idempotent on ``event.idempotency_key``."""

    async def cancel_event(self, app: Any, grant: Grant, remote_id: str) -> None:
        """Cancel the meeting and notify the attendee."""

    async def move_event(self, app: Any, grant: Grant, remote_id: str, start: dt.datetime, end: dt.datetime) -> None:
        """Reschedule the meeting and notify the attendee."""

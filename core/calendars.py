"""The contract between chinwag and a calendar provider plugin (Google, Outlook, yours).

A provider is registered through ``register_calendar_providers``. It speaks its vendor's REST
API; chinwag handles agents, slots, routing and bookings. Times are aware UTC datetimes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import httpx

if TYPE_CHECKING:
    from .app import Chinwag


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
    (encrypted) before they are used. The built-in providers keep ``access_token``,
    ``refresh_token`` and ``expires_at`` (epoch seconds), exactly as ``exchange_code`` returns them.

    ``calendar_id`` is the provider's name for the calendar: for Google a calendar id (``primary``
    is the connected account's own); for Outlook ``me`` (or empty) for the signed-in agent, or a
    user id / userPrincipalName.
    """

    agent_email: str
    calendar_id: str
    tokens: dict[str, Any]
    saver: Callable[[dict[str, Any]], Awaitable[None]] | None = None
    # chinwag's lock on refreshing these tokens, held across processes; it yields the tokens stored
    # once it is held (None when there are none). Without one, ``refreshing`` locks nothing.
    locker: Callable[[], AbstractAsyncContextManager[Mapping[str, Any] | None]] | None = None

    async def save(self, tokens: Mapping[str, Any]) -> None:
        """Replace the tokens and persist them."""
        self.tokens = dict(tokens)
        if self.saver is not None:
            await self.saver(self.tokens)

    @contextlib.asynccontextmanager
    async def refreshing(self) -> AsyncIterator[None]:
        """Hold the grant's refresh lock, with ``tokens`` re-read from storage once it is held.

        A provider refreshes inside it: when another process refreshed while this one waited,
        ``tokens`` are already fresh and the provider need not (and, if the vendor rotates refresh
        tokens, must not) redeem the old refresh token again.
        """
        if self.locker is None:
            yield
            return
        async with self.locker() as stored:
            if stored:
                self.tokens = dict(stored)
            yield


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

    def authorization_url(self, app: Chinwag, state: str, redirect_uri: str, login_hint: str | None = None) -> str:
        """The consent URL an agent opens to connect their calendar.

        ``login_hint`` is the address of the account expected to consent (the agent's own, or
        their ``calendar_owner``); pass it on so the vendor's sign-in page suggests that account.
        """

    async def exchange_code(self, app: Chinwag, code: str, redirect_uri: str) -> dict[str, Any]:
        """Trade an authorization code for tokens (stored encrypted by chinwag)."""

    async def account_emails(self, app: Chinwag, tokens: dict[str, Any]) -> list[str]:
        """The addresses of the account that consented, lower-case, asked of the vendor with the
        ``tokens`` that ``exchange_code`` just returned (Google's userinfo, Graph's ``/me``).

        chinwag refuses a grant when none of them is the expected account, so an agent who
        consented while signed in as somebody else does not book meetings on that person's calendar.
        """

    async def busy(self, app: Chinwag, grant: Grant, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        """Busy intervals of the agent's calendar between ``start`` and ``end``."""

    async def create_event(self, app: Chinwag, grant: Grant, event: EventRequest) -> CreatedEvent:
        """Create the meeting and send the invitation; idempotent on ``event.idempotency_key``."""

    async def cancel_event(self, app: Chinwag, grant: Grant, remote_id: str) -> None:
        """Cancel the meeting and notify the attendee."""

    async def find_event(self, app: Chinwag, grant: Grant, idempotency_key: str, start: dt.datetime,
                         end: dt.datetime) -> str | None:
        """The provider's id of the live (not cancelled) event created with ``idempotency_key``
        between ``start`` and ``end``, or None: how chinwag finds an event whose creation it
        never heard back about, to cancel it."""

    async def move_event(self, app: Chinwag, grant: Grant, remote_id: str, start: dt.datetime, end: dt.datetime) -> None:
        """Reschedule the meeting and notify the attendee."""


def merge_intervals(intervals: list[Interval]) -> list[Interval]:
    """Sorted intervals with overlapping or touching ones joined."""
    merged: list[Interval] = []
    for interval in sorted(intervals, key=lambda i: i.start):
        if merged and interval.start <= merged[-1].end:
            merged[-1] = Interval(merged[-1].start, max(merged[-1].end, interval.end))
        else:
            merged.append(interval)
    return merged


def subtract_interval(intervals: list[Interval], removed: Interval) -> list[Interval]:
    """``intervals`` with the time of ``removed`` cut out (pieces before and after it stay)."""
    left: list[Interval] = []
    for interval in intervals:
        if interval.end <= removed.start or interval.start >= removed.end:
            left.append(interval)
            continue
        if interval.start < removed.start:
            left.append(Interval(interval.start, removed.start))
        if interval.end > removed.end:
            left.append(Interval(removed.end, interval.end))
    return left


def split_range(start: dt.datetime, end: dt.datetime, span: dt.timedelta) -> list[tuple[dt.datetime, dt.datetime]]:
    """[start, end) cut into consecutive pieces no longer than ``span`` (vendors cap query ranges)."""
    pieces = []
    while start < end:
        pieces.append((start, min(end, start + span)))
        start += span
    return pieces


@attrs.frozen
class RetryPolicy:
    """How a provider retries transient failures: capped exponential backoff with jitter.

    Shared by provider plugins so every vendor integration backs off the same way; what counts
    as transient is the vendor's business and is passed in.
    """

    max_retries: int = 4
    base_delay: float = 0.5  # seconds before the first retry (halved to doubled by jitter)
    max_delay: float = 30.0  # longest pause; a longer Retry-After means give up now

    def delay(self, attempt: int, retry_after: str | None = None) -> float | None:
        """Seconds to wait before retry number ``attempt`` (0-based), or None to give up.

        A vendor's ``Retry-After`` (seconds, possibly fractional) wins over the backoff.
        """
        if attempt >= self.max_retries:
            return None
        hint = _seconds(retry_after)
        if hint is not None:
            return hint if hint <= self.max_delay else None
        backoff = min(self.max_delay, self.base_delay * 2**attempt)
        return backoff / 2 + random.uniform(0, backoff / 2)  # jitter spreads clients that failed together

    async def send(
        self,
        send: Callable[[], Awaitable[httpx.Response]],
        is_transient: Callable[[httpx.Response], bool],
        what: str,
    ) -> httpx.Response:
        """Call ``send`` until it gives a response that is not transient, then return it.

        Network errors and transient responses are retried; raise ``CalendarUnavailable``
        naming ``what`` and the last failure once retries are exhausted.
        """
        attempt = 0
        while True:
            retry_after = None
            try:
                response = await send()
            except httpx.TransportError as error:
                failure = f"{type(error).__name__}: {error}"
            else:
                if not is_transient(response):
                    return response
                failure = f"HTTP {response.status_code}"
                retry_after = response.headers.get("Retry-After")
            pause = self.delay(attempt, retry_after)
            if pause is None:
                raise CalendarUnavailable(f"{what} failed after {attempt + 1} attempts (last: {failure})")
            await asyncio.sleep(pause)
            attempt += 1


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` given in seconds; the HTTP-date form is ignored (vendors here send seconds)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return max(seconds, 0.0) if seconds is not None else None

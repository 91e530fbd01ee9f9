"""The calendar provider contract as a reusable pytest suite: run it against your provider's sandbox.

Subclass ``CalendarProviderContract`` in your plugin's tests and give it three fixtures:

* ``provider``: your ``chinwag.calendars.CalendarProvider``, talking to a sandbox of the
  calendar over real HTTP (with fast retries: ``chinwag.testing.FAST_RETRY_SETTINGS``);
* ``grant``: the ``Grant`` of ``agent`` as chinwag holds it once connected; the tokens the
  provider saves (``grant.save``) are appended to the ``saved`` fixture's list
  (``chinwag.testing.sandbox_grant`` makes one for a ``chinwag.sandbox`` state);
* ``remote``: a ``CalendarRemote`` for the sandbox: it adds busy time, lists the agent's live
  events, injects faults, expires and revokes tokens.

Then every test checks one promise chinwag relies on: busy times, a meeting created once per
idempotency key (even when the vendor's answer is lost) and found again by it, the account that
consented, a meeting cancelled (twice harmlessly), moved,
transient errors (429, 503) retried, a persistent outage raised as ``CalendarUnavailable``, an
expired access token refreshed and saved, and a revoked grant raised as ``GrantRevoked``.
Set ``uses_tokens = False`` for a provider without OAuth tokens, and ``injects_faults = False``
for a sandbox that cannot fail on demand (a real server run for the tests): the tests that need
them are then left out of your subclass (not skipped: they do not apply).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, urlparse

import attrs
import pytest

from .calendars import CalendarProvider, CalendarUnavailable, CreatedEvent, EventRequest, Grant, GrantRevoked, Interval

# A Monday well in the future, so nothing the tests book is ever in the past.
MONDAY = dt.datetime(2030, 3, 4, tzinfo=dt.timezone.utc)


@runtime_checkable
class CalendarRemote(Protocol):
    """The suite's hands on the calendar's sandbox."""

    def add_busy(self, agent: str, start: dt.datetime, end: dt.datetime) -> None:
        """Put something of the agent's own in their calendar."""

    def live_events(self, agent: str) -> Sequence[str]:
        """The provider's ids (``CreatedEvent.remote_id``) of the agent's events not cancelled."""

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer ``status`` to the next ``times`` API calls (not token calls)."""

    def lose_next_create_reply(self) -> None:
        """Create the next event, then answer 503, as if the reply were lost on the way."""

    def fail_token_endpoint(self, status: int, times: int = 1) -> None:
        """Answer ``status`` to the next ``times`` token calls."""

    def expire_access_tokens(self) -> None:
        """Make every access token invalid now (the next API call gets 401)."""

    def token_requests(self) -> Sequence[str]:
        """The grant type of every token call so far, in order (``refresh_token``...)."""

    def revoke(self, agent: str) -> None:
        """Revoke the agent's grant for good (they removed chinwag's access)."""


@attrs.define
class SandboxRemote:
    """``CalendarRemote`` for a sandbox built on ``chinwag.sandbox`` (as Google's and Microsoft's
    stand-ins are): its state adds busy time, keeps events per agent, injects faults and revokes.
    ``is_live`` tells a live event from a cancelled one in the vendor's own shape."""

    sandbox: Any
    is_live: Callable[[Mapping[str, Any]], bool]
    events_path: str = "/events"  # where events are created
    token_path: str = "/token"

    def add_busy(self, agent: str, start: dt.datetime, end: dt.datetime) -> None:
        """Put something of the agent's own in their calendar."""
        self.sandbox.state.add_busy(agent, start, end)

    def live_events(self, agent: str) -> list[str]:
        """The agent's events not cancelled."""
        return [event_id for event_id, event in self.sandbox.state.events.get(agent, {}).items() if self.is_live(event)]

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer ``status`` to the next ``times`` calls."""
        self.sandbox.state.fail_next(status, times=times)

    def lose_next_create_reply(self) -> None:
        """Create the next event, then answer 503."""
        self.sandbox.state.fail_next(503, path=self.events_path, method="POST", after_processing=True)

    def fail_token_endpoint(self, status: int, times: int = 1) -> None:
        """Answer ``status`` to the next ``times`` token calls."""
        self.sandbox.state.fail_next(status, times=times, path=self.token_path)

    def expire_access_tokens(self) -> None:
        """Make every access token invalid now."""
        self.sandbox.state.expire_access_tokens()

    def token_requests(self) -> list[str]:
        """The grant type of every token call so far."""
        return list(self.sandbox.state.token_requests)

    def revoke(self, agent: str) -> None:
        """Revoke the agent's grant for good."""
        self.sandbox.state.revoke(user=agent)


async def sandbox_consent(sandbox: Any, provider: Any, agent: str,
                          redirect_uri: str = "http://127.0.0.1/callback") -> dict[str, Any]:
    """The tokens ``agent`` gets by consenting, on a ``chinwag.sandbox`` sign-in, to the scopes
    the provider asks for (for ``consented_tokens``)."""
    url = provider.authorization_url(None, "state-1", redirect_uri)
    code = sandbox.state.issue_code(agent, redirect_uri, parse_qs(urlparse(url).query)["scope"][0])
    return await provider.exchange_code(None, code, redirect_uri)


class CalendarProviderContract:
    """The tests every calendar provider passes. Override ``provider``, ``grant`` and ``remote``."""

    agent = "agent@example.com"  # the connected agent ``grant`` belongs to
    uses_tokens = True  # OAuth access and refresh tokens (False: credentials that do not expire)
    injects_faults = True  # the sandbox can fail on demand (False: a real server run for the tests)

    # The tests that need a capability: a subclass without it does not have them at all (no skips).
    FAULT_TESTS = ("test_a_lost_reply_does_not_make_a_second_event", "test_transient_errors_are_retried",
                   "test_a_persistent_outage_is_calendar_unavailable",
                   "test_a_token_endpoint_outage_is_calendar_unavailable")
    TOKEN_TESTS = ("test_an_expired_access_token_is_refreshed_and_saved",
                   "test_a_token_endpoint_outage_is_calendar_unavailable")

    def __init_subclass__(cls, **options: Any) -> None:
        """Leave out the tests of capabilities the provider does not have (``uses_tokens``,
        ``injects_faults``): pytest does not collect a name bound to None."""
        super().__init_subclass__(**options)
        for needed, names in ((cls.injects_faults, cls.FAULT_TESTS), (cls.uses_tokens, cls.TOKEN_TESTS)):
            if not needed:
                for name in names:
                    setattr(cls, name, None)

    # -- fixtures the plugin overrides -----------------------------------------------------------

    @pytest.fixture
    def provider(self) -> CalendarProvider:
        """Your provider, talking to the sandbox ``remote`` controls."""
        raise NotImplementedError("override the provider fixture in your CalendarProviderContract subclass")

    @pytest.fixture
    def grant(self, saved: list[dict[str, Any]]) -> Grant:
        """``agent``'s grant; the tokens the provider saves go to ``saved``."""
        raise NotImplementedError("override the grant fixture in your CalendarProviderContract subclass")

    @pytest.fixture
    def remote(self) -> CalendarRemote:
        """Your ``CalendarRemote`` for the sandbox."""
        raise NotImplementedError("override the remote fixture in your CalendarProviderContract subclass")

    @pytest.fixture
    def consented_tokens(self, grant: Grant) -> dict[str, Any]:
        """The tokens ``exchange_code`` gives once ``agent`` consented; override when the grant's
        own tokens lack what the identity lookup needs (the scopes of a real consent)."""
        return dict(grant.tokens)

    @pytest.fixture
    def saved(self) -> list[dict[str, Any]]:
        """Every token dict the provider asked chinwag to store, in order."""
        return []

    # -- building blocks --------------------------------------------------------------------------

    @staticmethod
    def meeting(key: str = "booking-1", hour: int = 9) -> EventRequest:
        """A 30-minute call on Monday at ``hour`` UTC with one lead."""
        start = MONDAY.replace(hour=hour)
        return EventRequest(idempotency_key=key, start=start, end=start + dt.timedelta(minutes=30),
                            summary="Intro call with ACME", description="Booked on the website",
                            attendee_email="lead@acme.com", attendee_name="Lena Lead", time_zone="Europe/Berlin")

    async def busy_on_monday(self, provider: CalendarProvider, grant: Grant) -> list[Interval]:
        """The agent's busy times on Monday."""
        return list(await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1)))

    # -- the contract -----------------------------------------------------------------------------

    async def test_busy_shows_the_agents_own_appointments(self, provider: CalendarProvider, grant: Grant,
                                                          remote: CalendarRemote) -> None:
        """What the agent has in their calendar is busy, within the range asked and no further."""
        remote.add_busy(self.agent, MONDAY.replace(hour=10), MONDAY.replace(hour=11))
        assert await self.busy_on_monday(provider, grant) == [Interval(MONDAY.replace(hour=10), MONDAY.replace(hour=11))]
        assert await provider.busy(None, grant, MONDAY.replace(hour=12), MONDAY.replace(hour=13)) == []

    async def test_a_meeting_is_created_once_per_key_and_is_busy(self, provider: CalendarProvider, grant: Grant,
                                                                 remote: CalendarRemote) -> None:
        """The same idempotency key twice (a retried booking) is one event."""
        first = await provider.create_event(None, grant, self.meeting())
        second = await provider.create_event(None, grant, self.meeting())
        assert isinstance(first, CreatedEvent) and second.remote_id == first.remote_id
        assert list(remote.live_events(self.agent)) == [first.remote_id]
        assert await self.busy_on_monday(provider, grant) == [Interval(MONDAY.replace(hour=9),
                                                                       MONDAY.replace(hour=9, minute=30))]

    async def test_a_lost_reply_does_not_make_a_second_event(self, provider: CalendarProvider, grant: Grant,
                                                             remote: CalendarRemote) -> None:
        """The vendor made the event but its answer never came: the retry finds it, nothing doubles."""
        remote.lose_next_create_reply()
        created = await provider.create_event(None, grant, self.meeting())
        assert list(remote.live_events(self.agent)) == [created.remote_id]

    async def test_an_event_is_found_by_its_key_until_cancelled(self, provider: CalendarProvider, grant: Grant,
                                                                 remote: CalendarRemote) -> None:
        """``find_event`` (how chinwag finds an event whose creation it never heard back about)."""
        created = await provider.create_event(None, grant, self.meeting("booking-wanted"))
        start, end = MONDAY.replace(hour=9), MONDAY.replace(hour=9, minute=30)
        assert await provider.find_event(None, grant, "booking-wanted", start, end) == created.remote_id
        assert await provider.find_event(None, grant, "booking-never-made", start, end) is None
        await provider.cancel_event(None, grant, created.remote_id)
        assert await provider.find_event(None, grant, "booking-wanted", start, end) is None

    async def test_the_account_that_consented_is_the_agents(self, provider: CalendarProvider,
                                                            consented_tokens: dict[str, Any]) -> None:
        """``account_emails`` names the agent's address for the agent's tokens (chinwag refuses a
        grant made while signed in as somebody else)."""
        assert self.agent in await provider.account_emails(None, consented_tokens)

    async def test_cancel_frees_the_time_and_twice_is_harmless(self, provider: CalendarProvider, grant: Grant,
                                                               remote: CalendarRemote) -> None:
        """A cancelled meeting is no longer busy; cancelling it again does nothing."""
        created = await provider.create_event(None, grant, self.meeting())
        await provider.cancel_event(None, grant, created.remote_id)
        await provider.cancel_event(None, grant, created.remote_id)
        assert list(remote.live_events(self.agent)) == []
        assert await self.busy_on_monday(provider, grant) == []

    async def test_move_moves_the_busy_time(self, provider: CalendarProvider, grant: Grant,
                                            remote: CalendarRemote) -> None:
        """A moved meeting is busy at its new time only, and is still one event."""
        created = await provider.create_event(None, grant, self.meeting())
        await provider.move_event(None, grant, created.remote_id, MONDAY.replace(hour=14),
                                  MONDAY.replace(hour=14, minute=30))
        assert await self.busy_on_monday(provider, grant) == [Interval(MONDAY.replace(hour=14),
                                                                       MONDAY.replace(hour=14, minute=30))]
        assert list(remote.live_events(self.agent)) == [created.remote_id]

    @pytest.mark.parametrize("status", [429, 503])
    async def test_transient_errors_are_retried(self, provider: CalendarProvider, grant: Grant,
                                                remote: CalendarRemote, status: int) -> None:
        """Two 429s or 503s in a row, then success: the meeting is made, once."""
        remote.fail_next(status, times=2)
        created = await provider.create_event(None, grant, self.meeting())
        assert list(remote.live_events(self.agent)) == [created.remote_id]

    async def test_a_persistent_outage_is_calendar_unavailable(self, provider: CalendarProvider, grant: Grant,
                                                               remote: CalendarRemote) -> None:
        """After its retries the provider gives up with ``CalendarUnavailable``."""
        remote.fail_next(503, times=100)
        with pytest.raises(CalendarUnavailable):
            await self.busy_on_monday(provider, grant)

    async def test_an_expired_access_token_is_refreshed_and_saved(self, provider: CalendarProvider, grant: Grant,
                                                                  remote: CalendarRemote,
                                                                  saved: list[dict[str, Any]]) -> None:
        """A rejected access token is refreshed once, and the new tokens saved before use."""
        remote.expire_access_tokens()
        created = await provider.create_event(None, grant, self.meeting())
        assert list(remote.live_events(self.agent)) == [created.remote_id]
        assert list(remote.token_requests()) == ["refresh_token"]
        assert saved and saved[-1]["access_token"] == grant.tokens["access_token"]

    async def test_a_revoked_grant_means_the_agent_must_reconnect(self, provider: CalendarProvider, grant: Grant,
                                                                  remote: CalendarRemote) -> None:
        """Access removed for good is ``GrantRevoked`` (the agent reconnects), not an outage."""
        remote.revoke(self.agent)
        if self.uses_tokens:
            grant.tokens["expires_at"] = 0  # the refresh is what fails
        with pytest.raises(GrantRevoked):
            await self.busy_on_monday(provider, grant)

    async def test_a_token_endpoint_outage_is_calendar_unavailable(self, provider: CalendarProvider, grant: Grant,
                                                                   remote: CalendarRemote) -> None:
        """The token endpoint down is an outage, not a revoked grant."""
        grant.tokens["expires_at"] = 0
        remote.fail_token_endpoint(503, times=100)
        with pytest.raises(CalendarUnavailable):
            await self.busy_on_monday(provider, grant)

"""chinwag's calendar provider contract suite (``chinwag.testing_calendar``) run against the Google
provider and its sandbox over loopback HTTP (the fixtures are in conftest.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlparse

import attrs
import pytest
from chinwag.calendars import Grant
from chinwag.testing_calendar import CalendarProviderContract
from chinwag_google_calendar.provider import GoogleCalendarProvider
from chinwag_google_calendar.sandbox import SandboxServer

AGENT = "agent@example.com"


@attrs.define
class GoogleRemote:
    """The sandbox's state as the suite's ``CalendarRemote``."""

    sandbox: SandboxServer

    def add_busy(self, agent: str, start: dt.datetime, end: dt.datetime) -> None:
        self.sandbox.state.add_busy(agent, start, end)

    def live_events(self, agent: str) -> list[str]:
        return [event_id for event_id, event in self.sandbox.state.events.get(agent, {}).items()
                if event["status"] != "cancelled"]

    def fail_next(self, status: int, times: int = 1) -> None:
        self.sandbox.state.fail_next(status, times=times)

    def lose_next_create_reply(self) -> None:
        self.sandbox.state.fail_next(503, path="/events", method="POST", after_processing=True)

    def fail_token_endpoint(self, status: int, times: int = 1) -> None:
        self.sandbox.state.fail_next(status, times=times, path="/token")

    def expire_access_tokens(self) -> None:
        self.sandbox.state.expire_access_tokens()

    def token_requests(self) -> list[str]:
        return list(self.sandbox.state.token_requests)

    def revoke(self, agent: str) -> None:
        self.sandbox.state.revoke(user=agent)


class TestGoogleContract(CalendarProviderContract):
    """The Google provider keeps the calendar contract."""

    agent = AGENT

    @pytest.fixture
    def provider(self, provider: GoogleCalendarProvider) -> GoogleCalendarProvider:
        return provider

    @pytest.fixture
    def grant(self, grant: Grant) -> Grant:
        return grant

    @pytest.fixture
    async def consented_tokens(self, sandbox: SandboxServer, provider: GoogleCalendarProvider) -> dict[str, Any]:
        """The tokens of a consent to the scopes the provider asks for, as the sign-in page gives them."""
        url = provider.authorization_url(None, "state-1", "http://127.0.0.1/callback")
        code = sandbox.state.issue_code(AGENT, "http://127.0.0.1/callback", parse_qs(urlparse(url).query)["scope"][0])
        return await provider.exchange_code(None, code, "http://127.0.0.1/callback")

    @pytest.fixture
    def remote(self, sandbox: SandboxServer) -> GoogleRemote:
        return GoogleRemote(sandbox)

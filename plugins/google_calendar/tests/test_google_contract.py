"""chinwag's calendar provider contract suite (``chinwag.testing_calendar``) run against the Google
provider and its sandbox over loopback HTTP (the fixtures are in conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest
from chinwag.calendars import Grant
from chinwag.testing_calendar import CalendarProviderContract, SandboxRemote, sandbox_consent
from chinwag_google_calendar.provider import GoogleCalendarProvider
from chinwag_google_calendar.sandbox import SandboxServer

AGENT = "agent@example.com"


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
        return await sandbox_consent(sandbox, provider, AGENT)

    @pytest.fixture
    def remote(self, sandbox: SandboxServer) -> SandboxRemote:
        return SandboxRemote(sandbox, lambda event: event["status"] != "cancelled")

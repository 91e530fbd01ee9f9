"""Fixtures: a Google sandbox on loopback HTTP, a provider pointed at it, and a connected agent
(``sandbox``, ``provider``, ``saved``, ``grant``: see ``chinwag.testing.calendar_sandbox_fixtures``)."""

from __future__ import annotations

from chinwag.testing import calendar_sandbox_fixtures
from chinwag_google_calendar.provider import GoogleCalendarProvider
from chinwag_google_calendar.sandbox import serve_in_thread
from chinwag_google_calendar.sandbox_state import GoogleSandboxState
from chinwag_google_calendar.settings import GoogleSettings

AGENT = "agent@example.com"

sandbox, provider, saved, grant = calendar_sandbox_fixtures(
    serve_in_thread, GoogleSandboxState, lambda settings: GoogleCalendarProvider(GoogleSettings.from_config(settings)),
    "primary", AGENT)

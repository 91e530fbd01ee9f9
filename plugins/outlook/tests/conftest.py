"""Fixtures: a Microsoft sandbox on loopback HTTP, a provider pointed at it, and a connected agent
(``sandbox``, ``provider``, ``saved``, ``grant``: see ``chinwag.testing.calendar_sandbox_fixtures``)."""

from __future__ import annotations

from chinwag.testing import calendar_sandbox_fixtures
from chinwag_outlook.provider import OutlookCalendarProvider
from chinwag_outlook.sandbox import serve_in_thread
from chinwag_outlook.sandbox_state import GraphSandboxState
from chinwag_outlook.settings import OutlookSettings

AGENT = "agent@example.com"

sandbox, provider, saved, grant = calendar_sandbox_fixtures(
    serve_in_thread, GraphSandboxState, lambda settings: OutlookCalendarProvider(OutlookSettings.from_config(settings)),
    "me", AGENT)

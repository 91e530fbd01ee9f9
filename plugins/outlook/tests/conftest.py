"""Fixtures: a Microsoft sandbox on loopback HTTP, a provider pointed at it, and a connected agent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from chinwag.calendars import Grant
from chinwag.testing import FAST_RETRY_SETTINGS, sandbox_grant
from chinwag_outlook.provider import OutlookCalendarProvider
from chinwag_outlook.sandbox import SandboxServer, serve_in_thread
from chinwag_outlook.sandbox_state import GraphSandboxState
from chinwag_outlook.settings import OutlookSettings

AGENT = "agent@example.com"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh sandbox served over HTTP on 127.0.0.1."""
    with serve_in_thread(state=GraphSandboxState()) as server:
        yield server


@pytest.fixture
async def provider(sandbox: SandboxServer) -> AsyncIterator[OutlookCalendarProvider]:
    """The real provider, with short backoff so retry tests stay fast."""
    provider = OutlookCalendarProvider(OutlookSettings.from_config({**sandbox.plugin_config(), **FAST_RETRY_SETTINGS}))
    yield provider
    await provider.aclose()


@pytest.fixture
def saved() -> list[dict[str, Any]]:
    """Every token dict the provider asked chinwag to store, in order."""
    return []


@pytest.fixture
def grant(sandbox: SandboxServer, saved: list[dict[str, Any]]) -> Grant:
    """The agent's grant, as chinwag holds it after the agent connected their calendar."""
    return sandbox_grant(sandbox.state, AGENT, "me", saved)

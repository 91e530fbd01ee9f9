"""Fixtures: a Microsoft sandbox on loopback HTTP, a provider pointed at it, and a connected agent."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from chinwag.calendars import Grant
from chinwag_outlook.provider import OutlookCalendarProvider
from chinwag_outlook.sandbox import SandboxServer, serve_in_thread
from chinwag_outlook.sandbox_state import GraphSandboxState
from chinwag_outlook.settings import OutlookSettings

AGENT = "agent@example.com"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh sandbox served over HTTP on 127.0.0.1."""
    server = serve_in_thread(state=GraphSandboxState())
    yield server
    server.stop()


@pytest.fixture
async def provider(sandbox: SandboxServer) -> AsyncIterator[OutlookCalendarProvider]:
    """The real provider, with short backoff so retry tests stay fast."""
    config = {**sandbox.plugin_config(), "max_retries": 3, "retry_base_delay": 0.01, "retry_max_delay": 2}
    provider = OutlookCalendarProvider(OutlookSettings.from_config(config))
    yield provider
    await provider.aclose()


@pytest.fixture
def saved() -> list[dict[str, Any]]:
    """Every token dict the provider asked chinwag to store, in order."""
    return []


@pytest.fixture
def grant(sandbox: SandboxServer, saved: list[dict[str, Any]]) -> Grant:
    """The agent's grant, as chinwag holds it after the agent connected their calendar."""
    issued = sandbox.state.issue_tokens(AGENT)

    async def save(tokens: dict[str, Any]) -> None:
        saved.append(dict(tokens))

    tokens = {"access_token": issued["access_token"], "refresh_token": issued["refresh_token"],
              "expires_at": time.time() + issued["expires_in"]}
    return Grant(agent_email=AGENT, calendar_id="me", tokens=tokens, saver=save)

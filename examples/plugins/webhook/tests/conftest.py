"""Fixtures: a webhook receiver on loopback HTTP that verifies signatures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chinwag.sandbox import SandboxServer
from chinwag_webhook.receiver import ReceiverState, serve

SECRET = "whsec-test-0123456789abcdef"


@pytest.fixture
def receiver() -> Iterator[SandboxServer[ReceiverState]]:
    """A fresh receiver sharing ``SECRET`` with the connector."""
    with serve(SECRET) as server:
        yield server

"""Fixtures: a Marketo sandbox on loopback HTTP and an httpx client that already holds a token."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from chinwag_marketo.sandbox import SandboxServer, new_state, serve_in_thread


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    """A fresh sandbox served over HTTP on 127.0.0.1."""
    with serve_in_thread(state=new_state()) as running:
        yield running


def get_token(server: SandboxServer) -> str:
    """An access token from the identity endpoint, as a client gets one."""
    config = server.plugin_config()
    answer = httpx.get(f"{config['base_url']}/identity/oauth/token",
                       params={"grant_type": "client_credentials", "client_id": config["client_id"],
                               "client_secret": config["client_secret"]})
    answer.raise_for_status()
    return answer.json()["access_token"]


@pytest.fixture
def new_token(server: SandboxServer) -> Callable[[], str]:
    """Ask the sandbox's identity endpoint for a token, as a client does."""
    return lambda: get_token(server)


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    """An httpx client on the sandbox's base URL with a bearer token."""
    with httpx.Client(base_url=server.plugin_config()["base_url"],
                      headers={"Authorization": f"Bearer {get_token(server)}"}) as http:
        yield http

"""Connecting an agent's calendar: only the agent's own account (or their calendar_owner) may consent.

Real server, the ``chinwag agents connect`` command, and the Google and Microsoft sandboxes'
consent pages and identity endpoints over loopback HTTP.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chinwag.testing import write_project
from meetings_support import agent, cli, consent, free_port, google, outlook, project, secret_key, serve  # noqa: F401  (fixtures)

CHINWAG = str(Path(sys.executable).with_name("chinwag"))


async def status(folder: Path, email: str) -> str:
    """The agent's calendar status in ``chinwag agents list``."""
    listing = json.loads((await cli(folder, "agents", "list", "--json")).output)
    return next(row["status"] for row in listing if row["email"] == email)


@pytest.mark.parametrize("provider", ["google", "outlook"])
async def test_consent_from_another_account_is_refused(tmp_path: Path, request: Any, provider: str) -> None:
    sandbox = request.getfixturevalue(provider)
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com", provider=provider)], **{provider: sandbox})
    with serve(folder, port):
        query, page, done = await consent(folder, "ada@example.com", provider, "eve@example.com")
        assert query["login_hint"] == "ada@example.com"
        assert 'value="ada@example.com"' in page  # the sign-in page suggests the agent's account
        assert done.status_code == 403 and "Wrong account" in done.text
        assert "eve@example.com" in done.text and "Nothing was connected" in done.text
        assert await status(folder, "ada@example.com") == "not_connected"

        _, _, done = await consent(folder, "ada@example.com", provider, "ada@example.com")
        assert done.status_code == 200 and "ada@example.com is now in the meeting queue" in done.text
        assert await status(folder, "ada@example.com") == "connected"

        # A later wrong-account consent leaves the working connection alone.
        _, _, done = await consent(folder, "ada@example.com", provider, "eve@example.com")
        assert done.status_code == 403 and await status(folder, "ada@example.com") == "connected"


async def test_a_shared_calendar_is_connected_by_its_owner(tmp_path: Path, google) -> None:
    port = free_port()
    shared = agent("ada@example.com", calendar_owner="Sales.Team@example.com")
    folder = project(tmp_path / "p", port, [shared], google=google)
    with serve(folder, port):
        query, _, done = await consent(folder, "ada@example.com", "google", "ada@example.com")
        assert query["login_hint"] == "sales.team@example.com"
        assert done.status_code == 403 and "calendar_owner" in done.text
        assert await status(folder, "ada@example.com") == "not_connected"
        _, _, done = await consent(folder, "ada@example.com", "google", "sales.team@example.com")
        assert done.status_code == 200 and await status(folder, "ada@example.com") == "connected"


async def test_an_unverified_google_address_is_refused(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com")], google=google)
    google.state.unverified.add("ada@example.com")
    with serve(folder, port):
        _, _, done = await consent(folder, "ada@example.com", "google", "ada@example.com")
        assert done.status_code == 502 and "not verified" in done.text
        assert await status(folder, "ada@example.com") == "not_connected"


async def test_a_microsoft_account_matches_by_mail_or_sign_in_name(tmp_path: Path, outlook) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com", provider="outlook")], outlook=outlook)
    outlook.state.mail_of["ada@contoso.onmicrosoft.com"] = "ada@example.com"
    with serve(folder, port):
        _, _, done = await consent(folder, "ada@example.com", "outlook", "ada@contoso.onmicrosoft.com")
        assert done.status_code == 200 and await status(folder, "ada@example.com") == "connected"


def test_calendar_owner_must_be_an_address(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "p", {"name": "x"}, {})
    (folder / "chinwag.yaml").write_text(
        "name: x\n"
        "agents:\n"
        "  - email: ada@example.com\n"
        "    provider: google\n"
        "    calendar_owner: the sales team\n"
        "    availability: {monday: ['09:00-12:00']}\n")
    result = subprocess.run([CHINWAG, "validate", str(folder)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "chinwag.yaml:5: agents[0].calendar_owner: must be the email address" in result.stdout + result.stderr

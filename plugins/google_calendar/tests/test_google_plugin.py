"""The plugin's hooks and configuration checks, and the sandbox as the demo and tests drive it."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import httpx
import chinwag_google_calendar
from chinwag.config import Config
from chinwag.plugins import Registry
from chinwag_google_calendar.provider import GoogleCalendarProvider, google_event_id
from chinwag_google_calendar.sandbox import SandboxServer


def app_with(plugin_config: dict) -> SimpleNamespace:
    config = Config(project_dir=Path("/project"), plugins={"google_calendar": plugin_config} if plugin_config else {})
    return SimpleNamespace(config=config, calendar_providers=Registry("calendar provider"))


def test_installed_as_a_chinwag_plugin() -> None:
    entry_points = {e.name: e.value for e in metadata.entry_points(group="chinwag")}
    assert entry_points["google_calendar"] == "chinwag_google_calendar"


async def test_registers_the_google_provider_and_closes_it_on_shutdown(sandbox: SandboxServer) -> None:
    app = app_with(sandbox.plugin_config())
    chinwag_google_calendar.register_calendar_providers(app.calendar_providers.register_for("google_calendar"), app)
    provider = app.calendar_providers["google"]
    assert isinstance(provider, GoogleCalendarProvider)
    assert provider.settings.token_url == f"{sandbox.url}/token"
    assert provider.client is provider.client  # one client per provider
    await chinwag_google_calendar.shutdown(app)
    assert provider._client is None


def test_unconfigured_plugin_has_no_problems() -> None:
    assert chinwag_google_calendar.check_config(app_with({}).config, None) == []


def test_bad_settings_are_reported_with_their_key() -> None:
    config = app_with({"client_id": "abc", "base_url": "ftp://calendar", "max_retries": -1, "timeuot": 3}).config
    problems = {p.where: p.message for p in chinwag_google_calendar.check_config(config, None)}
    assert set(problems) == {"plugins.google_calendar.client_secret", "plugins.google_calendar.base_url",
                             "plugins.google_calendar.max_retries", "plugins.google_calendar.timeuot"}
    assert "http" in problems["plugins.google_calendar.base_url"]
    assert "unknown setting" in problems["plugins.google_calendar.timeuot"]


def test_good_settings_pass(sandbox: SandboxServer) -> None:
    config = app_with({**sandbox.plugin_config(), "retry_base_delay": 0.2}).config
    assert chinwag_google_calendar.check_config(config, None) == []


def test_event_ids_are_valid_google_ids_and_stable() -> None:
    event_id = google_event_id("booking-42")
    assert event_id == google_event_id("booking-42") != google_event_id("booking-43")
    assert set(event_id) <= set("0123456789abcdefghijklmnopqrstuv") and 5 <= len(event_id) <= 1024


def test_sandbox_answers_in_googles_error_shape(sandbox: SandboxServer) -> None:
    with httpx.Client(base_url=sandbox.url) as client:
        answer = client.post("/calendar/v3/freeBusy", json={}, headers={"Authorization": "Bearer nope"})
        assert answer.status_code == 401
        assert answer.json() == {"error": {
            "code": 401, "message": "Invalid Credentials", "status": "UNAUTHENTICATED",
            "errors": [{"domain": "global", "reason": "authError", "message": "Invalid Credentials",
                        "locationType": "header", "location": "Authorization"}]}}
        refused = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": "gone",
                                              "client_id": "sandbox-client", "client_secret": "sandbox-secret"})
        assert refused.status_code == 400
        assert refused.json() == {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}


def test_sandbox_admin_routes_inject_faults_and_show_state(sandbox: SandboxServer) -> None:
    with httpx.Client(base_url=sandbox.url) as client:
        assert client.post("/_sandbox/faults", json={"status": 429, "retry_after": "2", "path": "/token"}).status_code == 201
        answer = client.post("/token", data={"grant_type": "refresh_token"})
        assert answer.status_code == 429 and answer.headers["Retry-After"] == "2"
        assert client.post("/_sandbox/busy", json={"calendar": "agent@example.com", "start": "2030-03-04T09:00:00Z",
                                                   "end": "2030-03-04T10:00:00Z"}).status_code == 204
        state = client.get("/_sandbox").json()
    assert state["busy"] == {"agent@example.com": [{"start": "2030-03-04T09:00:00Z", "end": "2030-03-04T10:00:00Z"}]}
    assert state["faults"] == []

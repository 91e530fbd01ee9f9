"""The plugin's hooks and configuration checks, and the sandbox as the demo and tests drive it."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import httpx
import chinwag_outlook
from chinwag.config import Config
from chinwag.plugins import Registry
from chinwag_outlook.provider import OutlookCalendarProvider
from chinwag_outlook.sandbox import SandboxServer
from chinwag_outlook.settings import OutlookSettings


def app_with(plugin_config: dict) -> SimpleNamespace:
    config = Config(project_dir=Path("/project"), plugins={"outlook": plugin_config} if plugin_config else {})
    return SimpleNamespace(config=config, calendar_providers=Registry("calendar provider"))


def test_installed_as_a_chinwag_plugin() -> None:
    entry_points = {e.name: e.value for e in metadata.entry_points(group="chinwag")}
    assert entry_points["outlook"] == "chinwag_outlook"


async def test_registers_the_outlook_provider_and_closes_it_on_shutdown(sandbox: SandboxServer) -> None:
    app = app_with(sandbox.plugin_config())
    chinwag_outlook.register_calendar_providers(app.calendar_providers.register_for("outlook"), app)
    provider = app.calendar_providers["outlook"]
    assert isinstance(provider, OutlookCalendarProvider)
    assert provider.settings.token_url == f"{sandbox.url}/common/oauth2/v2.0/token"
    assert provider.client is provider.client  # one client per provider
    await chinwag_outlook.shutdown(app)
    assert provider._client is None


def test_unconfigured_plugin_has_no_problems() -> None:
    assert chinwag_outlook.check_config(app_with({}).config, None) == []


def test_bad_settings_are_reported_with_their_key() -> None:
    config = app_with({"client_id": "abc", "base_url": "ftp://calendar", "max_retries": -1, "timeuot": 3}).config
    problems = {p.where: p.message for p in chinwag_outlook.check_config(config, None)}
    assert set(problems) == {"plugins.outlook.client_secret", "plugins.outlook.base_url",
                             "plugins.outlook.max_retries", "plugins.outlook.timeuot"}
    assert "http" in problems["plugins.outlook.base_url"]
    assert "unknown setting" in problems["plugins.outlook.timeuot"]


def test_good_settings_pass(sandbox: SandboxServer) -> None:
    config = app_with({**sandbox.plugin_config(), "retry_base_delay": 0.2}).config
    assert chinwag_outlook.check_config(config, None) == []


def test_tenant_sets_the_default_microsoft_urls() -> None:
    settings = OutlookSettings.from_config({"client_id": "a", "client_secret": "b", "tenant": "contoso.onmicrosoft.com"})
    assert settings.token_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assert settings.base_url == "https://graph.microsoft.com/v1.0"


def test_sandbox_answers_in_microsofts_error_shapes(sandbox: SandboxServer) -> None:
    with httpx.Client(base_url=sandbox.url) as client:
        answer = client.post("/v1.0/me/events", json={}, headers={"Authorization": "Bearer nope"})
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert set(answer.json()["error"]) >= {"code", "message"}
        refused = client.post("/common/oauth2/v2.0/token", data={
            "grant_type": "refresh_token", "refresh_token": "gone", "client_id": "sandbox-client", "client_secret": "sandbox-secret"})
        assert refused.status_code == 400
        body = refused.json()
        assert body["error"] == "invalid_grant" and body["error_description"].startswith("AADSTS")
        assert set(body) == {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"}


def test_sandbox_admin_routes_inject_faults_and_show_state(sandbox: SandboxServer) -> None:
    with httpx.Client(base_url=sandbox.url) as client:
        assert client.post("/_sandbox/faults", json={"status": 429, "retry_after": "2", "path": "/token"}).status_code == 201
        answer = client.post("/common/oauth2/v2.0/token", data={"grant_type": "refresh_token"})
        assert answer.status_code == 429 and answer.headers["Retry-After"] == "2"
        assert client.post("/_sandbox/busy", json={"mailbox": "agent@example.com", "start": "2030-03-04T09:00:00Z",
                                                   "end": "2030-03-04T10:00:00Z"}).status_code == 204
        state = client.get("/_sandbox").json()
    assert state["busy"] == {"agent@example.com": [{"start": "2030-03-04T09:00:00+00:00", "end": "2030-03-04T10:00:00+00:00"}]}
    assert state["faults"] == []

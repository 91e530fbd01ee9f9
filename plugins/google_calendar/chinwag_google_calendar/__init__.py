"""chinwag-google-calendar: agents connect their Google Calendar; visitors book real meetings on it.

Configuration: chinwag.yaml ``plugins: google_calendar: {client_id, client_secret, ...}``
(see README.md). ``chinwag_google_calendar.sandbox`` is a local stand-in for Google's servers.
"""

from __future__ import annotations

from typing import Any

from chinwag import hookimpl
from chinwag.mounted_sandboxes import sandbox_path, sandbox_url
from chinwag.problems import Problem

from .provider import GoogleCalendarProvider
from .settings import PLUGIN_NAME, GoogleSettings, config_problems

__all__ = ["GoogleCalendarProvider", "GoogleSettings"]


@hookimpl
def register_calendar_providers(register: Any, app: Any) -> None:
    """Register the ``google`` provider, configured from ``plugins: google_calendar``.

    With ``sandbox: true`` it talks to a stand-in for Google's servers that this chinwag server
    mounts at ``/-/sandbox/google`` (for the offline demo; see ``register_routes``).
    """
    config = app.config.plugin_config(PLUGIN_NAME)
    sandbox = None
    if config.get("sandbox"):
        from .sandbox import plugin_config
        from .sandbox_state import GoogleSandboxState

        sandbox = GoogleSandboxState()
        config = {**config, **plugin_config(sandbox_url(app, GoogleCalendarProvider.name), sandbox)}
    register(GoogleCalendarProvider(GoogleSettings.from_config(config), sandbox))


@hookimpl
def register_routes(register: Any, app: Any) -> None:
    """Mount the sandbox at ``/-/sandbox/google`` when configured with ``sandbox: true``."""
    provider = app.calendar_providers.get(GoogleCalendarProvider.name)
    if isinstance(provider, GoogleCalendarProvider) and provider.sandbox is not None:
        from starlette.routing import Mount

        from .sandbox import create_sandbox

        register(Mount(sandbox_path(provider.name), app=create_sandbox(provider.sandbox)))


@hookimpl
def check_config(config: Any, app: Any) -> list[Problem]:
    """Problems in ``plugins: google_calendar``; none when the plugin is not configured."""
    source = (config.raw.get("plugins") or {}).get(PLUGIN_NAME)
    return config_problems(config.plugin_config(PLUGIN_NAME), str(config.file), source)


@hookimpl
async def shutdown(app: Any) -> None:
    """Close the provider's HTTP client."""
    provider = app.calendar_providers.get(GoogleCalendarProvider.name)
    if isinstance(provider, GoogleCalendarProvider):
        await provider.aclose()


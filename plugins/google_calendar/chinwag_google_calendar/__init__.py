"""chinwag-google-calendar: agents connect their Google Calendar; visitors book real meetings on it.

Configuration: chinwag.yaml ``plugins: google_calendar: {client_id, client_secret, ...}``
(see README.md). ``chinwag_google_calendar.sandbox`` is a local stand-in for Google's servers.
"""

from __future__ import annotations

from typing import Any

from chinwag import hookimpl
from chinwag.problems import Problem

from .provider import GoogleCalendarProvider
from .settings import PLUGIN_NAME, GoogleSettings, config_problems

__all__ = ["GoogleCalendarProvider", "GoogleSettings"]


@hookimpl
def register_calendar_providers(register: Any, app: Any) -> None:
    """Register the ``google`` provider, configured from ``plugins: google_calendar``."""
    register(GoogleCalendarProvider(GoogleSettings.from_config(app.config.plugin_config(PLUGIN_NAME))))


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


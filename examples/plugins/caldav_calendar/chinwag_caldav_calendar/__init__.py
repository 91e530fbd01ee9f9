"""chinwag-caldav-calendar: agents' calendars on a CalDAV server (Radicale, Nextcloud, Fastmail,
iCloud...): free/busy by REPORT, meetings by PUT of iCalendar.

    plugins:
      caldav_calendar:
        url: https://caldav.example.com/     # the server's root
        timeout: 30                          # optional, seconds
    agents:
      - email: ada@example.com
        provider: caldav
        calendar: ada@example.com/calls/      # optional: a calendar's path or URL (default: the first)

Each agent connects with ``chinwag agents connect --provider caldav EMAIL`` and gives their
username and app password on the page it links to (see ``connect``). The server must answer
``free-busy-query`` REPORTs (RFC 4791 §7.10).
"""

from __future__ import annotations

from typing import Any, Callable

from chinwag import hookimpl
from chinwag.plugin_settings import SettingsCheck

from .connect import connect_routes
from .provider import CaldavProvider

__all__ = ["CaldavProvider"]

PLUGIN = "caldav_calendar"  # the entry-point name: the key of the settings under ``plugins:``


def provider_of(app: Any) -> CaldavProvider | None:
    """The registered provider, when the project configures a server."""
    provider = app.calendar_providers.get(CaldavProvider.name)
    return provider if isinstance(provider, CaldavProvider) else None


@hookimpl
def register_calendar_providers(register: Callable[[Any], Any], app: Any) -> None:
    """The provider, once the project gives the server's URL."""
    settings = app.config.plugin_config(PLUGIN)
    if settings.get("url"):
        register(CaldavProvider(settings))


@hookimpl
def register_routes(register: Callable[[Any], Any]) -> None:
    """The connect form."""
    for route in connect_routes(provider_of):
        register(route)


@hookimpl
def check_config(config: Any) -> list[Any]:
    """The server's URL and the timeout."""
    settings = config.plugin_config(PLUGIN)
    if not settings:
        return []
    check = SettingsCheck(PLUGIN, settings, str(config.file), (config.raw.get("plugins") or {}).get(PLUGIN))
    check.unknown_keys(["url", "timeout"])
    check.required_text(["url"], "is required: the CalDAV server's root URL")
    check.http_urls(["url"])
    check.numbers({"timeout": (1, 300, True)})
    return check.problems

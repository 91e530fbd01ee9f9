"""chinwag-google-calendar: agents connect their Google Calendar; visitors book real meetings on it.

Configuration: chinwag.yaml ``plugins: google_calendar: {client_id, client_secret, ...}``
(see README.md). ``chinwag_google_calendar.sandbox`` is a local stand-in for Google's servers.
"""

from __future__ import annotations

from chinwag.calendar_plugin import CalendarProviderPlugin

from .provider import GoogleCalendarProvider
from .settings import PLUGIN_NAME, GoogleSettings, config_problems

__all__ = ["GoogleCalendarProvider", "GoogleSettings", "plugin"]

plugin = CalendarProviderPlugin(PLUGIN_NAME, GoogleCalendarProvider, GoogleSettings, config_problems,
                                sandbox_module="chinwag_google_calendar.sandbox")
# The hooks, as module attributes: the entry point names this module.
register_calendar_providers = plugin.register_calendar_providers
register_routes = plugin.register_routes
check_config = plugin.check_config
shutdown = plugin.shutdown

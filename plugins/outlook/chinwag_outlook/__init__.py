"""chinwag-outlook: agents connect their Outlook (Microsoft 365) calendar; visitors book real meetings on it.

Configuration: chinwag.yaml ``plugins: outlook: {client_id, client_secret, tenant, ...}``
(see README.md). ``chinwag_outlook.sandbox`` is a local stand-in for Microsoft's servers.
"""

from __future__ import annotations

from chinwag.calendar_plugin import CalendarProviderPlugin

from .provider import OutlookCalendarProvider
from .settings import PLUGIN_NAME, OutlookSettings, config_problems

__all__ = ["OutlookCalendarProvider", "OutlookSettings", "plugin"]

plugin = CalendarProviderPlugin(PLUGIN_NAME, OutlookCalendarProvider, OutlookSettings, config_problems,
                                sandbox_module="chinwag_outlook.sandbox")
# The hooks, as module attributes: the entry point names this module.
register_calendar_providers = plugin.register_calendar_providers
register_routes = plugin.register_routes
check_config = plugin.check_config
shutdown = plugin.shutdown

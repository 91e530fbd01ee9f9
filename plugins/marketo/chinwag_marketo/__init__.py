"""chinwag-marketo: Marketo person and company data in; leads, chat activity and program membership out.

Configuration: chinwag.yaml ``plugins: marketo: {base_url, client_id, client_secret, ...}`` (see
README.md and ``chinwag_marketo.settings``). ``chinwag_marketo.sandbox`` is a local stand-in for
Marketo's identity, REST and Bulk APIs.
"""

from __future__ import annotations

from .connector import MarketoConnector
from .plugin import (check_config, register_attributes, register_commands, register_crm_connectors, register_routes,
                     shutdown, startup)
from .settings import MarketoSettings

__all__ = ["MarketoConnector", "MarketoSettings", "check_config", "register_attributes", "register_commands",
           "register_crm_connectors", "register_routes", "shutdown", "startup"]

"""chinwag-outlook: agents connect their Outlook (Microsoft 365) calendar; visitors book real meetings on it.

Configuration: chinwag.yaml ``plugins: outlook: {client_id, client_secret, tenant, ...}``
(see README.md). ``chinwag_outlook.sandbox`` is a local stand-in for Microsoft's servers.
"""

from __future__ import annotations

from typing import Any

from chinwag import hookimpl
from chinwag.mounted_sandboxes import sandbox_path, sandbox_url
from chinwag.problems import Problem

from .provider import OutlookCalendarProvider
from .settings import PLUGIN_NAME, OutlookSettings, config_problems

__all__ = ["OutlookCalendarProvider", "OutlookSettings"]


@hookimpl
def register_calendar_providers(register: Any, app: Any) -> None:
    """Register the ``outlook`` provider, configured from ``plugins: outlook``.

    With ``sandbox: true`` it talks to a stand-in for Microsoft's servers that this chinwag server
    mounts at ``/-/sandbox/outlook`` (for the offline demo; see ``register_routes``).
    """
    config = app.config.plugin_config(PLUGIN_NAME)
    sandbox = None
    if config.get("sandbox"):
        from .sandbox import plugin_config
        from .sandbox_state import GraphSandboxState

        sandbox = GraphSandboxState()
        config = {**config, **plugin_config(sandbox_url(app, OutlookCalendarProvider.name), sandbox)}
    register(OutlookCalendarProvider(OutlookSettings.from_config(config), sandbox))


@hookimpl
def register_routes(register: Any, app: Any) -> None:
    """Mount the sandbox at ``/-/sandbox/outlook`` when configured with ``sandbox: true``."""
    provider = app.calendar_providers.get(OutlookCalendarProvider.name)
    if isinstance(provider, OutlookCalendarProvider) and provider.sandbox is not None:
        from starlette.routing import Mount

        from .sandbox import create_sandbox

        register(Mount(sandbox_path(provider.name), app=create_sandbox(provider.sandbox)))


@hookimpl
def check_config(config: Any, app: Any) -> list[Problem]:
    """Problems in ``plugins: outlook``; none when the plugin is not configured."""
    source = (config.raw.get("plugins") or {}).get(PLUGIN_NAME)
    return config_problems(config.plugin_config(PLUGIN_NAME), str(config.file), source)


@hookimpl
async def shutdown(app: Any) -> None:
    """Close the provider's HTTP client."""
    provider = app.calendar_providers.get(OutlookCalendarProvider.name)
    if isinstance(provider, OutlookCalendarProvider):
        await provider.aclose()


"""What every HTTP calendar provider plugin has in common, so each plugin holds only its vendor.

* ``HttpCalendarProvider``: settings, the in-process sandbox (with ``sandbox: true``) and an
  HTTP client opened on first use.
* ``CalendarProviderPlugin``: the plugin's hooks (register the provider, mount its sandbox, check
  its settings, close its client). A plugin module exposes them as module attributes::

      plugin = CalendarProviderPlugin("outlook", OutlookCalendarProvider, OutlookSettings,
                                      config_problems, sandbox_module="chinwag_outlook.sandbox")
      register_calendar_providers = plugin.register_calendar_providers
      register_routes = plugin.register_routes
      check_config = plugin.check_config
      shutdown = plugin.shutdown

The sandbox module provides ``new_state()``, ``plugin_config(url, state)`` (the settings that
point the provider at it) and ``create_sandbox(state)`` (its Starlette app); it is imported
only when a project asks for the sandbox.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import httpx

from .hookspecs import hookimpl
from .mounted_sandboxes import sandbox_path, sandbox_url
from .problems import Problem


class HttpCalendarProvider:
    """Base of providers that speak a vendor's REST API with httpx."""

    name: str

    def __init__(self, settings: Any, sandbox: Any = None) -> None:
        self.settings = settings
        self.sandbox = sandbox  # the in-process sandbox's state with ``sandbox: true`` (the demo)
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client, created on first use so importing the plugin opens nothing."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.settings.timeout)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client (the plugin's ``shutdown`` hook calls this)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class CalendarProviderPlugin:
    """The hooks of one calendar provider plugin, configured with its classes."""

    def __init__(self, plugin_name: str, provider_class: type[HttpCalendarProvider], settings_class: Any,
                 config_problems: Callable[[Any, str, Any], list[Problem]], sandbox_module: str) -> None:
        self.plugin_name = plugin_name
        self.provider_class = provider_class
        self.settings_class = settings_class
        self.config_problems = config_problems
        self.sandbox_module = sandbox_module

    def _provider(self, app: Any) -> HttpCalendarProvider | None:
        provider = app.calendar_providers.get(self.provider_class.name)
        return provider if isinstance(provider, self.provider_class) else None

    @hookimpl
    def register_calendar_providers(self, register: Any, app: Any) -> None:
        """Register the provider, configured from ``plugins: <plugin name>``.

        With ``sandbox: true`` it talks to a stand-in for the vendor's servers that this chinwag
        server mounts at ``/-/sandbox/<provider>`` (for the offline demo; see ``register_routes``).
        """
        config = app.config.plugin_config(self.plugin_name)
        sandbox = None
        if config.get("sandbox"):
            module = importlib.import_module(self.sandbox_module)
            sandbox = module.new_state()
            config = {**config, **module.plugin_config(sandbox_url(app, self.provider_class.name), sandbox)}
        register(self.provider_class(self.settings_class.from_config(config), sandbox))

    @hookimpl
    def register_routes(self, register: Any, app: Any) -> None:
        """Mount the sandbox at ``/-/sandbox/<provider>`` when configured with ``sandbox: true``."""
        provider = self._provider(app)
        if provider is not None and provider.sandbox is not None:
            from starlette.routing import Mount

            module = importlib.import_module(self.sandbox_module)
            register(Mount(sandbox_path(provider.name), app=module.create_sandbox(provider.sandbox)))

    @hookimpl
    def check_config(self, config: Any, app: Any) -> list[Problem]:
        """Problems in ``plugins: <plugin name>``; none when the plugin is not configured."""
        source = (config.raw.get("plugins") or {}).get(self.plugin_name)
        return self.config_problems(config.plugin_config(self.plugin_name), str(config.file), source)

    @hookimpl
    async def shutdown(self, app: Any) -> None:
        """Close the provider's HTTP client."""
        provider = self._provider(app)
        if provider is not None:
            await provider.aclose()

"""What every HTTP calendar provider plugin has in common, so each plugin holds only its vendor.

* ``HttpCalendarProvider``: settings, the in-process sandbox (with ``sandbox: true``), an HTTP
  client opened on first use, and the OAuth 2 flow every vendor shares: authorized calls that
  refresh the token once on a 401, access tokens refreshed before they expire, refresh tokens
  redeemed under the grant's refresh lock (one process at a time) and the answer saved at once,
  token endpoint errors mapped to chinwag's, and the lookup of the account that consented.
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
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from .calendars import CalendarError, Grant, GrantRevoked
from .hookspecs import hookimpl
from .mounted_sandboxes import mount_sandbox, private_client, sandbox_url
from .problems import Problem

if TYPE_CHECKING:
    from .app import Chinwag


EXPIRY_LEEWAY = 60  # seconds: refresh a little early so a token never expires mid-request


class HttpCalendarProvider:
    """Base of providers that speak a vendor's REST API with httpx and OAuth 2 refresh tokens.

    A subclass names itself (``name``, ``vendor``, ``api_label``, ``plugin_name``) and may set
    ``api_headers`` (sent with every API call) and ``refresh_form`` (extra fields of a refresh
    request), and override ``is_transient``, ``is_token_transient`` and ``token_error``.
    """

    name: str
    vendor: str  # "Google": used in messages to operators
    api_label: str  # "Google Calendar"
    plugin_name: str  # the plugins: key in chinwag.yaml
    api_headers: Mapping[str, str] = {}
    refresh_form: Mapping[str, str] = {}

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

    # -- what a vendor may change --------------------------------------------------------------------

    @staticmethod
    def is_transient(response: httpx.Response) -> bool:
        """Whether an API answer is worth retrying: 429 and 5xx unless the vendor says more."""
        return response.status_code == 429 or response.status_code >= 500

    def is_token_transient(self, response: httpx.Response) -> bool:
        """Whether a token endpoint answer is worth retrying."""
        return response.status_code == 429 or response.status_code >= 500

    def token_error(self, error: str, description: str) -> CalendarError:
        """The exception for a token endpoint error: ``invalid_grant`` means the agent must reconnect."""
        if error == "invalid_grant":
            return GrantRevoked(f"{self.vendor} refused the agent's authorization ({description}): the agent must reconnect")
        return CalendarError(f"{self.vendor} token endpoint: {error}: {description}")

    # -- the OAuth flow ------------------------------------------------------------------------------

    async def _api(self, grant: Grant, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authorized API call with retries; a 401 refreshes the token and retries once.

        ``path`` is under the API's ``base_url``, or a whole URL the API gave (a next page's link).
        """
        url = path if path.startswith(("https://", "http://")) else self.settings.base_url + path
        for refreshed in (False, True):
            headers = {"Authorization": f"Bearer {await self._access_token(grant)}", **self.api_headers}
            response = await self.settings.retry.send(
                lambda: self.client.request(method, url, headers=headers, **kwargs),
                self.is_transient, f"{self.api_label} {method} {path}",
            )
            if response.status_code != 401:
                return response
            if not refreshed:
                await self._refresh(grant)
        raise GrantRevoked(f"{self.vendor} rejects {grant.agent_email}'s access even after a token refresh: the agent must reconnect")

    async def _access_token(self, grant: Grant) -> str:
        """The stored access token, refreshed first when it is missing or about to expire."""
        if not _usable(grant.tokens):
            await self._refresh(grant)
        return grant.tokens["access_token"]

    async def _refresh(self, grant: Grant) -> None:
        """Redeem the refresh token and save the answer at once (some vendors rotate refresh tokens).

        Done under the grant's refresh lock, which holds across processes: if another process
        refreshed while this one waited, its fresh tokens are used and no second refresh is made.
        """
        unusable = grant.tokens.get("access_token")  # expired, or just refused by the API
        async with grant.refreshing():
            if grant.tokens.get("access_token") != unusable and _usable(grant.tokens):
                return
            refresh_token = grant.tokens.get("refresh_token")
            if not refresh_token:
                raise GrantRevoked(f"no {self.vendor} refresh token is stored for {grant.agent_email}: the agent must reconnect")
            tokens = await self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token, **self.refresh_form})
            tokens["refresh_token"] = tokens.get("refresh_token") or refresh_token
            await grant.save(tokens)

    async def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        """POST to the token endpoint (client_secret_post); map OAuth errors to chinwag's."""
        form = {**form, "client_id": self._client_id(), "client_secret": self.settings.client_secret or ""}
        response = await self.settings.retry.send(
            lambda: self.client.post(self.settings.token_url, data=form), self.is_token_transient,
            f"{self.vendor} token request")
        payload = response_json(response)
        if response.status_code != 200:
            error, description = payload.get("error", f"HTTP {response.status_code}"), payload.get("error_description", "")
            raise self.token_error(error, description)
        return {
            "access_token": payload["access_token"],
            "refresh_token": payload.get("refresh_token"),
            "expires_at": time.time() + float(payload.get("expires_in", 3600)),
            "token_type": payload.get("token_type", "Bearer"),
            "scope": payload.get("scope", ""),
        }

    async def _identity(self, url: str, tokens: Mapping[str, Any]) -> dict[str, Any]:
        """GET ``url`` (a vendor's "who am I" endpoint) with a fresh access token; its JSON object."""
        headers = {"Authorization": f"Bearer {tokens['access_token']}", **self.api_headers}
        response = await self.settings.retry.send(
            lambda: self.client.get(url, headers=headers), self.is_transient, f"{self.vendor} account lookup")
        if response.status_code != 200:
            raise CalendarError(f"{self.vendor} did not say which account consented (HTTP {response.status_code} from {url})")
        return response_json(response)

    def _client_id(self) -> str:
        if not self.settings.client_id:
            raise CalendarError(f"the {self.plugin_name} plugin has no client_id: set plugins.{self.plugin_name} in chinwag.yaml")
        return self.settings.client_id


def _usable(tokens: Mapping[str, Any]) -> bool:
    """Whether the tokens hold an access token that is not about to expire."""
    return bool(tokens.get("access_token")) and tokens.get("expires_at", 0) - EXPIRY_LEEWAY > time.time()


def response_json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an answer, or an empty dict when it has none."""
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


class CalendarProviderPlugin:
    """The hooks of one calendar provider plugin, configured with its classes."""

    def __init__(self, plugin_name: str, provider_class: type[HttpCalendarProvider], settings_class: Any,
                 config_problems: Callable[[Any, str, Any], list[Problem]], sandbox_module: str) -> None:
        self.plugin_name = plugin_name
        self.provider_class = provider_class
        self.settings_class = settings_class
        self.config_problems = config_problems
        self.sandbox_module = sandbox_module

    def _provider(self, app: Chinwag) -> HttpCalendarProvider | None:
        provider = app.calendar_providers.get(self.provider_class.name)
        return provider if isinstance(provider, self.provider_class) else None

    @hookimpl
    def register_calendar_providers(self, register: Any, app: Chinwag) -> None:
        """Register the provider, configured from ``plugins: <plugin name>``.

        With ``sandbox: true`` it talks to a stand-in for the vendor's servers that this chinwag
        server mounts at ``/-/sandbox/<provider>`` (for the offline demo; see ``register_routes``).
        """
        config = app.config.plugin_config(self.plugin_name)
        sandbox = None
        if config.get("sandbox"):
            module = importlib.import_module(self.sandbox_module)
            sandbox = private_client(module.new_state())
            config = {**config, **module.plugin_config(sandbox_url(app, self.provider_class.name), sandbox)}
        register(self.provider_class(self.settings_class.from_config(config), sandbox))

    @hookimpl
    def register_routes(self, register: Any, app: Chinwag) -> None:
        """Mount the sandbox at ``/-/sandbox/<provider>`` when configured with ``sandbox: true`` (its
        control routes need the admin token)."""
        provider = self._provider(app)
        if provider is not None and provider.sandbox is not None:
            module = importlib.import_module(self.sandbox_module)
            register(mount_sandbox(app, provider.name, module.create_sandbox(provider.sandbox)))

    @hookimpl
    def check_config(self, config: Any, app: Chinwag) -> list[Problem]:
        """Problems in ``plugins: <plugin name>``; none when the plugin is not configured."""
        source = (config.raw.get("plugins") or {}).get(self.plugin_name)
        return self.config_problems(config.plugin_config(self.plugin_name), str(config.file), source)

    @hookimpl
    async def shutdown(self, app: Chinwag) -> None:
        """Close the provider's HTTP client."""
        provider = self._provider(app)
        if provider is not None:
            await provider.aclose()

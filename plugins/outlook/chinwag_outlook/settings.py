"""The plugin's settings: chinwag.yaml ``plugins: outlook: {...}``, checked and typed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from chinwag.calendars import RetryPolicy
from chinwag.plugin_settings import HTTP_CLIENT_LIMITS, SettingsCheck, retry_policy
from chinwag.problems import Problem

PLUGIN_NAME = "outlook"
LOGIN = "https://login.microsoftonline.com"
URL_DEFAULTS = {
    "base_url": "https://graph.microsoft.com/v1.0",
    "token_url": LOGIN + "/{tenant}/oauth2/v2.0/token",
    "auth_url": LOGIN + "/{tenant}/oauth2/v2.0/authorize",
}
DEFAULT_TENANT = "common"  # any work, school or personal Microsoft account
REQUIRED_KEYS = ("client_id", "client_secret")
NUMBER_LIMITS = HTTP_CLIENT_LIMITS  # timeout and retries
KNOWN_KEYS = set(URL_DEFAULTS) | set(REQUIRED_KEYS) | set(NUMBER_LIMITS) | {"sandbox"} | {"tenant"}


@attrs.frozen
class OutlookSettings:
    """Where the Microsoft endpoints are, the OAuth client, and how patient to be."""

    client_id: str | None = None
    client_secret: str | None = None
    base_url: str = URL_DEFAULTS["base_url"]
    token_url: str = URL_DEFAULTS["token_url"].format(tenant=DEFAULT_TENANT)
    auth_url: str = URL_DEFAULTS["auth_url"].format(tenant=DEFAULT_TENANT)
    timeout: float = 10.0
    retry: RetryPolicy = RetryPolicy()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OutlookSettings:
        """Settings from the plugin's configuration mapping (assumed checked by ``config_problems``)."""
        tenant = config.get("tenant", DEFAULT_TENANT)
        return cls(
            client_id=config.get("client_id"),
            client_secret=config.get("client_secret"),
            **{key: with_tenant(str(config.get(key, default)), tenant).rstrip("/") for key, default in URL_DEFAULTS.items()},
            timeout=float(config.get("timeout", 10.0)),
            retry=retry_policy(config),
        )


def with_tenant(url: str, tenant: str) -> str:
    """``url`` with ``{tenant}`` filled in: the defaults and a custom ``token_url`` or ``auth_url`` alike."""
    return url.replace("{tenant}", tenant)


def config_problems(config: Mapping[str, Any], file: str, source: Any = None) -> list[Problem]:
    """What is wrong with the plugin's configuration mapping; [] when it is absent or fine.

    ``source`` is the same section as read from YAML (before ``$env`` values were substituted),
    which knows the line of each key.
    """
    if not config:
        return []
    check = SettingsCheck(PLUGIN_NAME, config, file, source)
    check.unknown_keys(KNOWN_KEYS)
    check.provider_client(REQUIRED_KEYS, "the app registration from Microsoft Entra")
    tenant = config.get("tenant")
    if tenant is not None and (not isinstance(tenant, str) or not tenant or "/" in tenant):
        check.problem("tenant", "must be a tenant id or domain, or common, organizations or consumers")
    check.http_urls(URL_DEFAULTS)
    check.numbers(NUMBER_LIMITS)
    return check.problems

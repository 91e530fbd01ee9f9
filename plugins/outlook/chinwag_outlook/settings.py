"""The plugin's settings: chinwag.yaml ``plugins: outlook: {...}``, checked and typed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import attrs
from chinwag.calendars import RetryPolicy
from chinwag.problems import Problem
from chinwag.yamlfile import line_of

PLUGIN_NAME = "outlook"
LOGIN = "https://login.microsoftonline.com"
URL_DEFAULTS = {
    "base_url": "https://graph.microsoft.com/v1.0",
    "token_url": LOGIN + "/{tenant}/oauth2/v2.0/token",
    "auth_url": LOGIN + "/{tenant}/oauth2/v2.0/authorize",
}
DEFAULT_TENANT = "common"  # any work, school or personal Microsoft account
REQUIRED_KEYS = ("client_id", "client_secret")
# key: (smallest, largest, whole numbers only)
NUMBER_LIMITS: dict[str, tuple[float, float, bool]] = {
    "timeout": (0.1, 300, False),
    "max_retries": (0, 10, True),
    "retry_base_delay": (0, 60, False),
    "retry_max_delay": (0, 3600, False),
}
KNOWN_KEYS = set(URL_DEFAULTS) | set(REQUIRED_KEYS) | set(NUMBER_LIMITS) | {"tenant"}


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
        defaults = RetryPolicy()
        tenant = config.get("tenant", DEFAULT_TENANT)
        return cls(
            client_id=config.get("client_id"),
            client_secret=config.get("client_secret"),
            **{key: str(config.get(key, default.format(tenant=tenant))).rstrip("/") for key, default in URL_DEFAULTS.items()},
            timeout=float(config.get("timeout", 10.0)),
            retry=RetryPolicy(
                max_retries=int(config.get("max_retries", defaults.max_retries)),
                base_delay=float(config.get("retry_base_delay", defaults.base_delay)),
                max_delay=float(config.get("retry_max_delay", defaults.max_delay)),
            ),
        )


def config_problems(config: Mapping[str, Any], file: str, source: Any = None) -> list[Problem]:
    """What is wrong with the plugin's configuration mapping; [] when it is absent or fine.

    ``source`` is the same section as read from YAML (before ``$env`` values were substituted),
    which knows the line of each key.
    """
    if not config:
        return []
    where = f"plugins.{PLUGIN_NAME}"
    problems = []

    def problem(key: str, message: str) -> None:
        problems.append(Problem(file, line_of(source, key), f"{where}.{key}", message))

    for key in sorted(set(config) - KNOWN_KEYS, key=str):
        problem(key, f"unknown setting (known: {', '.join(sorted(KNOWN_KEYS))})")
    for key in REQUIRED_KEYS:
        if not isinstance(config.get(key), str) or not config[key]:
            problem(key, "is required: the app registration from Microsoft Entra (read secrets with $env)")
    tenant = config.get("tenant")
    if tenant is not None and (not isinstance(tenant, str) or not tenant or "/" in tenant):
        problem("tenant", "must be a tenant id or domain, or common, organizations or consumers")
    for key in URL_DEFAULTS:
        value = config.get(key)
        if value is not None and not _is_http_url(value):
            problem(key, "must be an http:// or https:// URL")
    for key, (smallest, largest, whole) in NUMBER_LIMITS.items():
        value = config.get(key)
        if value is None:
            continue
        kind = int if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not smallest <= value <= largest:
            problem(key, f"must be a {'whole ' if whole else ''}number from {smallest} to {largest}")
    return problems


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)

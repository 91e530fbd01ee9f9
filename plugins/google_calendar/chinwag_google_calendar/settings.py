"""The plugin's settings: chinwag.yaml ``plugins: google_calendar: {...}``, checked and typed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from chinwag.calendars import RetryPolicy
from chinwag.plugin_settings import HTTP_CLIENT_LIMITS, SettingsCheck, retry_policy
from chinwag.problems import Problem

PLUGIN_NAME = "google_calendar"
URL_DEFAULTS = {
    "base_url": "https://www.googleapis.com/calendar/v3",
    "token_url": "https://oauth2.googleapis.com/token",
    "auth_url": "https://accounts.google.com/o/oauth2/v2/auth",
    "userinfo_url": "https://openidconnect.googleapis.com/v1/userinfo",
}
REQUIRED_KEYS = ("client_id", "client_secret")
NUMBER_LIMITS = HTTP_CLIENT_LIMITS  # timeout and retries
KNOWN_KEYS = set(URL_DEFAULTS) | set(REQUIRED_KEYS) | set(NUMBER_LIMITS) | {"sandbox"}


@attrs.frozen
class GoogleSettings:
    """Where the Google endpoints are, the OAuth client, and how patient to be."""

    client_id: str | None = None
    client_secret: str | None = None
    base_url: str = URL_DEFAULTS["base_url"]
    token_url: str = URL_DEFAULTS["token_url"]
    auth_url: str = URL_DEFAULTS["auth_url"]
    userinfo_url: str = URL_DEFAULTS["userinfo_url"]
    timeout: float = 10.0
    retry: RetryPolicy = RetryPolicy()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GoogleSettings:
        """Settings from the plugin's configuration mapping (assumed checked by ``config_problems``)."""
        return cls(
            client_id=config.get("client_id"),
            client_secret=config.get("client_secret"),
            **{key: str(config.get(key, default)).rstrip("/") for key, default in URL_DEFAULTS.items()},
            timeout=float(config.get("timeout", 10.0)),
            retry=retry_policy(config),
        )


def config_problems(config: Mapping[str, Any], file: str, source: Any = None) -> list[Problem]:
    """What is wrong with the plugin's configuration mapping; [] when it is absent or fine.

    ``source`` is the same section as read from YAML (before ``$env`` values were substituted),
    which knows the line of each key.
    """
    if not config:
        return []
    check = SettingsCheck(PLUGIN_NAME, config, file, source)
    check.unknown_keys(KNOWN_KEYS)
    check.provider_client(REQUIRED_KEYS, "the OAuth client from the Google Cloud console")
    check.http_urls(URL_DEFAULTS)
    check.numbers(NUMBER_LIMITS)
    return check.problems

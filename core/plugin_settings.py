"""Checking a plugin's settings (chinwag.yaml ``plugins: <name>: {...}``) and reporting ``Problem``s.

A plugin's ``check_config`` hook starts a ``SettingsCheck`` on its section, runs the checks it
needs (plus its own with ``problem``) and returns ``check.problems``, each naming the key's line.
Provider plugins that call a vendor over HTTP share ``HTTP_CLIENT_LIMITS`` and ``retry_policy``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

from .calendars import RetryPolicy
from .problems import Problem
from .yamlfile import line_of

# key: (smallest, largest, whole numbers only)
HTTP_CLIENT_LIMITS: dict[str, tuple[float, float, bool]] = {
    "timeout": (0.1, 300, False),
    "max_retries": (0, 10, True),
    "retry_base_delay": (0, 60, False),
    "retry_max_delay": (0, 3600, False),
}


class SettingsCheck:
    """Problems found in one plugin's settings mapping, in the order the checks ran."""

    def __init__(self, plugin: str, config: Mapping[str, Any], file: str, source: Any = None) -> None:
        """``source`` is the same section as read from YAML (before ``$env`` values were substituted),
        which knows the line of each key."""
        self.plugin, self.config, self.file, self.source = plugin, config, file, source
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        """Report ``message`` about ``plugins.<plugin>.<key>``, at the key's line."""
        self.problems.append(Problem(self.file, line_of(self.source, key), f"plugins.{self.plugin}.{key}", message))

    def unknown_keys(self, known: Iterable[str]) -> None:
        """Report every key that is not one of ``known``."""
        known = sorted(known)
        for key in sorted(set(self.config) - set(known), key=str):
            self.problem(key, f"unknown setting (known: {', '.join(known)})")

    def required_text(self, keys: Iterable[str], message: str) -> None:
        """Report each of ``keys`` that is missing or not a non-empty string."""
        for key in keys:
            if not isinstance(self.config.get(key), str) or not self.config[key]:
                self.problem(key, message)

    def provider_client(self, keys: Iterable[str], where_from: str) -> None:
        """A provider plugin's OAuth client (``keys``), required unless ``sandbox: true``.

        ``sandbox: true`` serves a stand-in for the vendor inside chinwag, which brings its own
        client; ``where_from`` tells the operator where a real client comes from.
        """
        if not isinstance(self.config.get("sandbox", False), bool):
            self.problem("sandbox", "must be true or false (true serves a stand-in for the vendor inside chinwag, for demos)")
        if self.config.get("sandbox") is not True:
            self.required_text(keys, f"is required: {where_from} (read secrets with $env)")

    def http_urls(self, keys: Iterable[str]) -> None:
        """Report each of ``keys`` that is given but not an http:// or https:// URL."""
        for key in keys:
            value = self.config.get(key)
            if value is not None and not is_http_url(value):
                self.problem(key, "must be an http:// or https:// URL")

    def numbers(self, limits: Mapping[str, tuple[float, float, bool]]) -> None:
        """Report each key of ``limits`` given outside its (smallest, largest, whole numbers only)."""
        for key, (smallest, largest, whole) in limits.items():
            value = self.config.get(key)
            if value is None:
                continue
            kind = int if whole else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind) or not smallest <= value <= largest:
                self.problem(key, f"must be a {'whole ' if whole else ''}number from {smallest} to {largest}")


def is_http_url(value: Any) -> bool:
    """Whether ``value`` is an http:// or https:// URL with a host."""
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def retry_policy(config: Mapping[str, Any]) -> RetryPolicy:
    """The ``RetryPolicy`` of ``max_retries``, ``retry_base_delay`` and ``retry_max_delay`` (checked
    against ``HTTP_CLIENT_LIMITS``); missing keys keep the policy's defaults."""
    defaults = RetryPolicy()
    return RetryPolicy(
        max_retries=int(config.get("max_retries", defaults.max_retries)),
        base_delay=float(config.get("retry_base_delay", defaults.base_delay)),
        max_delay=float(config.get("retry_max_delay", defaults.max_delay)),
    )

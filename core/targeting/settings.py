"""The ``targeting:`` section of chinwag.yaml.

    targeting:
      country_header: CF-IPCountry     # the header your proxy sets with the visitor's country
      region_header: CF-Region         # ... and region (both optional; unset means unknown)
      lookup_timeout: 1.0              # the longest any attribute lookup may hold up the chat (s)
      visit_gap_minutes: 30            # a page load after this long without one starts a visit
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from ..problems import Problem
from ..yamlfile import line_of

_HEADER = re.compile(r"^[A-Za-z0-9-]{1,100}$")
SETTINGS = ("country_header", "region_header", "lookup_timeout", "visit_gap_minutes")


@attrs.frozen
class TargetingSettings:
    """Checked targeting settings (defaults when the section is absent)."""

    country_header: str | None = None
    region_header: str | None = None
    lookup_timeout: float = 1.0
    visit_gap_minutes: float = 30.0


def parse_settings(section: Any, source: Any, file: str) -> tuple[TargetingSettings, list[Problem]]:
    """Read the section (``source`` is it as read from YAML, which knows its lines)."""
    problems: list[Problem] = []
    if section is None:
        return TargetingSettings(), problems
    if not isinstance(section, Mapping):
        return TargetingSettings(), [Problem(file, None, "targeting", "must be a mapping of settings")]

    def problem(key: Any, message: str) -> None:
        problems.append(Problem(file, line_of(source, key), f"targeting.{key}", message))

    for key in sorted(set(section) - set(SETTINGS), key=str):
        problem(key, f"unknown setting (known: {', '.join(SETTINGS)})")
    values: dict[str, Any] = {}
    for key in ("country_header", "region_header"):
        value = section.get(key)
        if value is not None and (not isinstance(value, str) or not _HEADER.match(value)):
            problem(key, "must be an HTTP header name, like CF-IPCountry")
        elif value is not None:
            values[key] = value
    for key, smallest, largest in (("lookup_timeout", 0.01, 30), ("visit_gap_minutes", 1, 1440)):
        value = section.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not smallest <= value <= largest:
            problem(key, f"must be a number from {smallest} to {largest}")
        else:
            values[key] = float(value)
    return TargetingSettings(**values), problems

"""IANA time zone names as a visitor's browser sends them: checked against the zone database.

A name is looked up in the set of known zones, never opened as a path, so names such as
``Europe`` (a folder of the zone database) or ``../../etc/passwd`` are simply unknown.
"""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def known_time_zone(name: Any) -> str | None:
    """``name`` when it is a zone of the IANA database, else None."""
    if not isinstance(name, str) or name not in _known_zones():
        return None
    return name

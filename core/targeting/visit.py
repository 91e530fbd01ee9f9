"""The visit's built-in attributes: what the page, the request and the visitor's history tell.

``visit.count`` and ``visit.returning`` come from the visitor's visits (a visit starts with a
page load after ``targeting.visit_gap_minutes`` without one); the UTM parameters from the
page's address; ``visit.device`` from the browser's User-Agent; ``visit.country`` and
``visit.region`` from the headers the integrator's proxy sets (only when chinwag.yaml names
them: a header a visitor can set themselves must not be trusted by default).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..attributes import Attribute
from ..store import utc
from .settings import TargetingSettings

UTM_PARAMETERS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")

VISIT_ATTRIBUTES = (
    Attribute("visit.count", "number", "Visit number (1 on the first visit)"),
    Attribute("visit.returning", "boolean", "Returning visitor"),
    Attribute("visit.device", "string", "Device type (desktop, mobile or tablet)"),
    Attribute("visit.country", "string", "Country (from the proxy's header)"),
    Attribute("visit.region", "string", "Region (from the proxy's header)"),
    *(Attribute(f"visit.{name}", "string", f"UTM {name[4:]}") for name in UTM_PARAMETERS),
)

_TABLET = re.compile(r"ipad|tablet|kindle|silk|playbook|(android(?!.*mobile))", re.IGNORECASE)
_MOBILE = re.compile(r"mobi|iphone|ipod|android|blackberry|opera mini|windows phone", re.IGNORECASE)


def device_type(user_agent: str | None) -> str | None:
    """``tablet``, ``mobile`` or ``desktop`` from a User-Agent header (None when there is none)."""
    if not user_agent:
        return None
    if _TABLET.search(user_agent):
        return "tablet"
    if _MOBILE.search(user_agent):
        return "mobile"
    return "desktop"


def utm_parameters(page_url: str) -> dict[str, str]:
    """The UTM parameters of the page's address, as ``visit.utm_*`` attributes."""
    try:
        query = urlsplit(page_url).query
    except ValueError:
        return {}
    found: dict[str, str] = {}
    for name, value in parse_qsl(query):
        if name.casefold() in UTM_PARAMETERS and f"visit.{name.casefold()}" not in found:
            found[f"visit.{name.casefold()}"] = value
    return found


def request_attributes(headers: Mapping[str, str], settings: TargetingSettings) -> dict[str, Any]:
    """``visit.device``, and ``visit.country``/``visit.region`` from the configured headers."""
    found: dict[str, Any] = {"visit.device": device_type(headers.get("user-agent"))}
    for attribute, header in (("visit.country", settings.country_header), ("visit.region", settings.region_header)):
        value = headers.get(header.casefold()) if header else None
        if value and value.strip() and len(value) <= 100:
            found[attribute] = value.strip()
    return found


def visit_of(visits: int | None, started_at: dt.datetime | None, last_seen: dt.datetime | None,
             now: dt.datetime, settings: TargetingSettings) -> tuple[int, dt.datetime, bool]:
    """This page load's visit: its number, when it began, and whether this page load begins it.

    ``visits`` and ``started_at`` are the visitor's stored count and the start of their current
    visit (None for a visitor with none yet); ``last_seen`` is when they last loaded a page (None
    for a new visitor). A page load after a gap of ``visit_gap_minutes`` begins the next visit.
    The session service stores what a page load begins (``chinwag.turn_writer.VisitRecord``).
    """
    if visits is None:
        return 1, now, True
    gap = dt.timedelta(minutes=settings.visit_gap_minutes)
    if last_seen is not None and now - utc(last_seen) >= gap:  # type: ignore[operator]
        return int(visits) + 1, now, True
    return int(visits), utc(started_at) or now, False


def page_attributes(page_url: str, headers: Mapping[str, str], settings: TargetingSettings) -> dict[str, Any]:
    """The visit's attributes the server derives from the page address and the request (set
    ones only): they replace any of the same name the page sent."""
    derived = {**utm_parameters(page_url), **request_attributes(headers, settings)}
    return {name: value for name, value in derived.items() if value is not None}

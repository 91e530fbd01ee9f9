"""chinwag-business-hours: targeting attributes that say whether the agent team is within its
business hours now, in its own time zone, closed on public holidays (the holidays library).

    plugins:
      business_hours:
        time_zone: Europe/Berlin
        hours: {monday: ["09:00-17:30"], tuesday: ["09:00-17:30"], friday: ["09:00-15:00"]}
        country: DE                  # optional: public holidays of this country
        subdivision: BY              # optional: ... and of this state or province
        closed_dates: [2026-12-24]   # optional: the team's own closed days

Attributes (looked up when targeting needs them; read-only, never stored on the visitor):

* ``team.open`` (boolean): within the hours now, and today is neither a holiday nor a closed date;
* ``team.opens_in`` (number): minutes until the team opens, 0 while it is open (no value when it
  does not open within a year).

A dialogue for open hours targets ``audience: {attribute: team.open, op: is, value: true}``.
They are registered only when the settings are there, so a dialogue naming them in a project
without them fails validation instead of never being shown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable

import attrs
from chinwag import hookimpl
from chinwag.attributes import Attribute, LookupContext
from chinwag.plugin_settings import SettingsCheck
from chinwag.problems import Problem
from chinwag.yamlfile import line_of

from .hours import BusinessHours, read_business_hours

if TYPE_CHECKING:
    from chinwag.app import Chinwag

PLUGIN = "business_hours"  # the entry-point name: the key of the settings under ``plugins:``
SETTINGS = ("time_zone", "hours", "country", "subdivision", "closed_dates")


@attrs.define
class BusinessHoursState:
    """Per app: the team's business hours, read from the settings on first use."""

    hours: BusinessHours | None = None


def business_hours(app: Chinwag) -> BusinessHours:
    """The project's business hours (``check_config`` has checked the settings before serving)."""
    state = app.plugin_state(BusinessHoursState)
    if state.hours is None:
        hours, problems = read_business_hours(app.config.plugin_config(PLUGIN))
        if hours is None:
            raise ValueError(f"plugins.{PLUGIN}: {problems}")
        state.hours = hours
    return state.hours


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(dt.timezone.utc)


async def team_open(context: LookupContext, now: dt.datetime | None = None) -> bool:
    """``team.open``: whether the team is open at ``now`` (the current time by default)."""
    return business_hours(context.app).is_open(_now(now))


async def team_opens_in(context: LookupContext, now: dt.datetime | None = None) -> int | None:
    """``team.opens_in``: minutes until the team opens (0 while open) from ``now``."""
    return business_hours(context.app).minutes_until_open(_now(now))


@hookimpl
def register_attributes(register: Callable[[Attribute], Any], app: Chinwag) -> None:
    """``team.open`` and ``team.opens_in``, when the project has settings for this plugin."""
    if not app.config.plugin_config(PLUGIN):
        return
    register(Attribute("team.open", "boolean", "Team within business hours", lookup=team_open))
    register(Attribute("team.opens_in", "number", "Minutes until the team opens", lookup=team_opens_in))


@hookimpl
def check_config(config: Any) -> list[Problem]:
    """Every setting, each problem at its line (a weekday's, a closed date's)."""
    settings = config.plugin_config(PLUGIN)
    if not settings:
        return []
    source = (config.raw.get("plugins") or {}).get(PLUGIN)
    check = SettingsCheck(PLUGIN, settings, str(config.file), source)
    check.unknown_keys(SETTINGS)
    _, problems = read_business_hours(settings)
    for path, message in problems:
        where = f"plugins.{PLUGIN}." + "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in path)[1:]
        check.problems.append(Problem(check.file, _line(source, path), where, message))
    return check.problems


def _line(source: Any, path: tuple[str | int, ...]) -> int | None:
    """The line of the innermost setting on ``path`` that came from YAML."""
    line = None
    for key in path:
        line = line_of(source, key) or line
        if isinstance(source, Mapping):
            source = source.get(key)
        elif isinstance(source, list) and isinstance(key, int) and key < len(source):
            source = source[key]
        else:
            break
    return line

"""Targeting, built in as a plugin: the ``targeting:`` section of chinwag.yaml and the visit's
built-in attributes (visit count, returning visitor, device, country, region, UTM parameters).

Choosing a dialogue (``chinwag.targeting.selection``) is core's; this plugin only declares what
a third party could declare through the same hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..attributes import Attribute
from ..config import Config, ConfigSection
from ..hookspecs import hookimpl
from ..problems import Problem
from .settings import parse_settings
from .state import TargetingState
from .visit import VISIT_ATTRIBUTES

if TYPE_CHECKING:
    from ..app import Chinwag


@hookimpl
def register_config_sections(register: Callable[[ConfigSection], Any]) -> None:
    """``targeting:`` in chinwag.yaml."""
    register(ConfigSection("targeting", "targeting: proxy headers for country and region, lookup timeout, visit gap"))


@hookimpl
def register_attributes(register: Callable[[Attribute], Any]) -> None:
    """The visit's built-in attributes."""
    for attribute in VISIT_ATTRIBUTES:
        register(attribute)


@hookimpl
def check_config(config: Config, app: Chinwag) -> list[Problem]:
    """Check ``targeting:``; keep the settings for the app."""
    raw = config.raw.get("targeting")
    settings, problems = parse_settings(config.sections.get("targeting"), raw, str(config.file))
    app.plugin_state(TargetingState).settings = settings
    return problems

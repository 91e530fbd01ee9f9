"""chinwag-territory-routing: a routing strategy, ``territory``, that gives a meeting to the team
whose territory the lead is in (their country, or a region of it), from a CSV.

    plugins:
      territory_routing:
        territories: territories.csv        # country,region,team (see ``territories``)
        fallback: everyone                   # or team_only: nobody outside the team takes it
        country_attribute: lead.country      # optional: where the country is read
        region_attribute: lead.state         # optional: where the region is read
    meetings:
      teams: {emea: [ada@example.com], us-west: [grace@example.com]}

A meeting card uses it with ``strategy: territory``: among the agents free at the chosen time,
the territory's team goes first, in turn after whoever of them took the last meeting; then, with
``fallback: everyone``, the others. A lead outside every territory goes to everyone (or, with
``team_only``, to nobody: the card's fallback message).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import attrs
from chinwag import hookimpl
from chinwag.meetings.routing import RoutingContext, rotation
from chinwag.meetings.settings import meeting_settings
from chinwag.plugin_settings import SettingsCheck
from chinwag.problems import Problem

from .territories import Territories, read_territories

if TYPE_CHECKING:
    from chinwag.app import Chinwag

PLUGIN = "territory_routing"  # the entry-point name: the key of the settings under ``plugins:``
SETTINGS = ("territories", "fallback", "country_attribute", "region_attribute")
FALLBACKS = ("everyone", "team_only")


@attrs.define
class TerritoryState:
    """Per app: the territories, read on first use."""

    territories: Territories | None = None


class TerritoryStrategy:
    """The lead's territory's team first (see the module docstring)."""

    name = "territory"

    def __init__(self, app: Chinwag) -> None:
        self.app = app

    def territories(self) -> Territories:
        """The project's territories (checked by ``check_config`` before the server starts)."""
        state = self.app.plugin_state(TerritoryState)
        if state.territories is None:
            settings = self.app.config.plugin_config(PLUGIN)
            path = self.app.config.project_dir / str(settings.get("territories", "territories.csv"))
            state.territories, _ = read_territories(path, meeting_settings(self.app).teams)
        return state.territories

    async def choose(self, context: RoutingContext) -> list[str]:
        """The territory's team among ``context.candidates`` first, each group in turn."""
        settings = self.app.config.plugin_config(PLUGIN)
        team = self.territories().team_for(context.lead.get(settings.get("country_attribute", "lead.country")),
                                           context.lead.get(settings.get("region_attribute", "lead.state")))
        turn = [agent for agent in rotation(context.agents, context.last_agent) if agent in context.candidates]
        members = set(meeting_settings(self.app).teams.get(team, ())) if team else set()
        ours = [agent for agent in turn if agent in members]
        if settings.get("fallback", "everyone") == "team_only":
            return ours
        return ours + [agent for agent in turn if agent not in members]


@hookimpl
def register_routing_strategies(register: Callable[[Any], Any], app: Chinwag) -> None:
    """The ``territory`` strategy."""
    register(TerritoryStrategy(app))


@hookimpl
def check_config(config: Any, app: Chinwag) -> list[Problem]:
    """The settings, and every row of the territories CSV (naming its line)."""
    settings = config.plugin_config(PLUGIN)
    if not settings:
        return []
    check = SettingsCheck(PLUGIN, settings, str(config.file), (config.raw.get("plugins") or {}).get(PLUGIN))
    check.unknown_keys(SETTINGS)
    check.required_text(["territories"], "is required: a CSV file in the project folder (country,region,team)")
    if settings.get("fallback", "everyone") not in FALLBACKS:
        check.problem("fallback", f"must be one of {', '.join(FALLBACKS)}")
    for key in ("country_attribute", "region_attribute"):
        if key in settings and (not isinstance(settings[key], str) or app.attributes.get(settings[key]) is None):
            check.problem(key, "must name a registered attribute (e.g. lead.country)")
    if isinstance(settings.get("territories"), str) and settings["territories"]:
        name = settings["territories"]
        _, problems = read_territories(Path(config.project_dir) / name, meeting_settings(app).teams)
        for line, message in problems:
            check.problems.append(Problem(f"{config.project_dir / name}", line, "", message))
    return check.problems

"""Who may take a meeting: account routing, then the card's routing (agent, team, rules, queue).

Order, as the reference product does it: account routing (the company's domain names its owner)
comes first; then the meeting card's ``route``: a named agent, a team, custom rules (first rule
whose condition holds), or the whole queue. A routing *strategy* (``register_routing_strategies``)
then orders the agents free at the chosen time; the booking takes the first that it can hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from .. import conditions
from .settings import MeetingSettings

ALL_AGENTS = "all agents"


@attrs.frozen
class RoutingDecision:
    """The agents who may take this visitor's meeting and how to choose among them.

    ``queue`` names the routing queue (reported in ``meeting_booked`` and keyed by the pointer);
    ``agents`` are in no particular order: the queue order comes from the database.
    """

    queue: str
    agents: tuple[str, ...]
    strategy: str


@attrs.frozen
class RoutingContext:
    """What a strategy sees while the queue's pointer is locked.

    ``candidates`` are the agents free at the chosen time, in queue order; ``last_agent`` took
    the queue's last meeting; ``meetings_since(moment)`` counts each agent's live meetings
    created since ``moment`` (read in the same locked transaction); ``lead`` is what is known of
    the visitor (``lead.*``, ``company.*``, ``person.*`` attributes), for strategies that route
    by who is asking (a territory, a segment).
    """

    queue: str
    agents: tuple[str, ...]
    candidates: tuple[str, ...]
    last_agent: str | None
    weights: Mapping[str, int]
    period_start: dt.datetime
    meetings_since: Callable[[dt.datetime | None], Awaitable[dict[str, int]]]
    lead: Mapping[str, Any] = attrs.field(factory=dict)


class RoutingStrategy(Protocol):
    """Orders the free agents for one booking; register through ``register_routing_strategies``."""

    name: str

    async def choose(self, context: RoutingContext) -> list[str]:
        """``context.candidates`` in the order to try them."""


def rotation(agents: Sequence[str], last_agent: str | None) -> list[str]:
    """``agents`` starting with the one after ``last_agent`` (strict round-robin order)."""
    if last_agent not in agents:
        return list(agents)
    after = agents.index(last_agent) + 1
    return [*agents[after:], *agents[:after]]


def decide(settings: MeetingSettings, route: Any, strategy: str, lookup: Callable[[str], Any]) -> RoutingDecision:
    """Where this visitor's meeting goes; ``route`` is the meeting card's ``route`` option."""
    owner = account_owner(settings, lookup)
    if owner is not None:
        return RoutingDecision(f"account:{owner}", (owner,), strategy)
    if isinstance(route, Mapping) and "agent" in route:
        agent = str(route["agent"]).lower()
        return RoutingDecision(f"agent:{agent}", (agent,), strategy)
    if isinstance(route, Mapping) and "team" in route:
        return RoutingDecision(f"team:{route['team']}", settings.teams.get(route["team"], ()), strategy)
    if route == "rules":
        for rule in settings.rules:
            if conditions.evaluate(rule.condition, lookup):
                if rule.agent:
                    return RoutingDecision(f"rule:{rule.name}", (rule.agent,), strategy)
                return RoutingDecision(f"rule:{rule.name}", settings.teams.get(rule.team or "", ()), strategy)
    return RoutingDecision(ALL_AGENTS, tuple(settings.agents), strategy)


def account_owner(settings: MeetingSettings, lookup: Callable[[str], Any]) -> str | None:
    """The agent who owns the visitor's company, by ``company.domain`` or the email's domain."""
    if not settings.accounts:
        return None
    for value in (lookup("company.domain"), str(lookup("lead.email") or "").rpartition("@")[2]):
        domain = str(value or "").strip().lower().removeprefix("www.")
        if domain in settings.accounts:
            return settings.accounts[domain]
    return None


def period_start(now: dt.datetime, period: str) -> dt.datetime:
    """The start (UTC midnight) of the day, ISO week or month ``now`` lies in."""
    day = dt.datetime.combine(now.astimezone(dt.timezone.utc).date(), dt.time(0), tzinfo=dt.timezone.utc)
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def check_route(route: Any, settings: MeetingSettings, strategies: Any, strategy: str) -> list[str]:
    """Problems with a meeting card's ``route`` and ``strategy`` options."""
    problems = []
    if strategies.get(strategy) is None:
        known = ", ".join(strategies.names()) or "none: install chinwag-round-robin"
        problems.append(f"'strategy' {strategy!r} is not a registered routing strategy (known: {known})")
    if isinstance(route, Mapping) and set(route) == {"agent"}:
        if str(route["agent"]).lower() not in settings.agents:
            problems.append(f"'route' names agent {route['agent']!r}, who is not listed under agents:")
    elif isinstance(route, Mapping) and set(route) == {"team"}:
        if route["team"] not in settings.teams:
            problems.append(f"'route' names team {route['team']!r}, which is not under meetings.teams")
    elif route not in ("round_robin", "rules"):
        problems.append("'route' must be round_robin, rules, {agent: email} or {team: name}")
    if not settings.agents:
        problems.append("a meeting card needs agents: list them under agents: in chinwag.yaml")
    return problems

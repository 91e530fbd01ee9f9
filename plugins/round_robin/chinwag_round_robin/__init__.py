"""chinwag-round-robin: how a routing queue picks the agent for each meeting.

* ``round_robin``: strict rotation, as the reference product does it. With five agents, if agent 3
  took the last meeting, agent 4 gets the next, then 5, then 1; an agent busy at the chosen time
  is passed over for that meeting only.
* ``weighted``: shares in proportion to each agent's ``weight``: the agent furthest below their
  share of this period's meetings goes first; ties go in rotation order.
* ``fewest_meetings``: the agent with the fewest meetings this period (``meetings.period``) goes
  first; ties go in rotation order.

The pointer ("who took the last meeting") lives in chinwag's database and is locked while a
booking chooses, so several server processes booking at once still take strict turns.
"""

from __future__ import annotations

from typing import Any, Callable

from chinwag import hookimpl
from chinwag.meetings.routing import RoutingContext, rotation


class RoundRobin:
    """Strict rotation after the agent who took the queue's last meeting."""

    name = "round_robin"

    async def choose(self, context: RoutingContext) -> list[str]:
        """The free agents, starting after the last one to take a meeting."""
        turn = rotation(context.agents, context.last_agent)
        return [agent for agent in turn if agent in context.candidates]


class Weighted:
    """Meetings shared in proportion to the agents' weights."""

    name = "weighted"

    async def choose(self, context: RoutingContext) -> list[str]:
        """Lowest (meetings + 1) / weight first; ties in rotation order."""
        counts = await context.meetings_since(context.period_start)
        turn = [agent for agent in rotation(context.agents, context.last_agent) if agent in context.candidates]
        return sorted(turn, key=lambda agent: (counts.get(agent, 0) + 1) / context.weights.get(agent, 1))


class FewestMeetings:
    """The agent with the fewest meetings this period first."""

    name = "fewest_meetings"

    async def choose(self, context: RoutingContext) -> list[str]:
        """Fewest meetings since the period started first; ties in rotation order."""
        counts = await context.meetings_since(context.period_start)
        turn = [agent for agent in rotation(context.agents, context.last_agent) if agent in context.candidates]
        return sorted(turn, key=lambda agent: counts.get(agent, 0))


@hookimpl
def register_routing_strategies(register: Callable[[Any], Any]) -> None:
    """round_robin, weighted and fewest_meetings."""
    for strategy in (RoundRobin(), Weighted(), FewestMeetings()):
        register(strategy)

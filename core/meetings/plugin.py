"""Meetings, built in as a plugin: the ``meeting`` card, agents, OAuth callback, admin and CLI.

Routing strategies come from plugins (``chinwag-round-robin`` registers round_robin, weighted and
fewest_meetings); calendar providers too (``chinwag-google-calendar``, ``chinwag-outlook``).
"""

from __future__ import annotations

from typing import Any, Callable

from . import tables  # noqa: F401  (declares the meeting tables on the core metadata)
from ..hookspecs import hookimpl
from ..problems import Problem


@hookimpl
def register_cards(register: Callable[[Any], Any], app: Any) -> None:
    """The ``meeting`` card."""
    from .card import MeetingCard

    register(MeetingCard(app))


@hookimpl
def check_config(config: Any, app: Any) -> list[Problem]:
    """Check ``agents:`` and ``meetings:``; keep the parsed settings for the app."""
    from .settings import SETTINGS_KEY, parse_meeting_settings

    settings, problems = parse_meeting_settings(config, app)
    app.state[SETTINGS_KEY] = settings
    return problems


@hookimpl
async def startup(app: Any) -> None:
    """Record new agents in the queue, load the token key (a clear error if it is missing), and
    release holds that a process which died mid-booking left behind."""
    from .agent_state import sync_agents
    from .booking import release_stale_holds

    await sync_agents(app)
    await release_stale_holds(app)


@hookimpl
def register_routes(register: Callable[[Any], Any], app: Any) -> None:
    """The OAuth callback and the meetings admin endpoints."""
    from .agent_state import SERVING_KEY
    from .routes import meeting_routes
    from .oauth import oauth_routes

    app.state[SERVING_KEY] = True  # only a serving process connects agents of mounted sandboxes

    for route in [*oauth_routes(), *meeting_routes()]:
        register(route)


@hookimpl
def register_commands(cli: Any) -> None:
    """``chinwag agents ...`` and ``chinwag meetings ...``."""
    from .commands import agents, meetings

    cli.add_command(agents)
    cli.add_command(meetings)

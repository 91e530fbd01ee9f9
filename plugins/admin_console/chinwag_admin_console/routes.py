"""Every route of the console, under ``/-/console``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from .agents_pages import agent_routes
from .appearance_pages import appearance_routes
from .auth_pages import auth_routes
from .console import PREFIX, STATIC, Console, ConsoleState
from .dialogues_pages import dialogue_routes
from .integrations_pages import integration_routes
from .meetings_pages import meeting_routes
from .overview_pages import overview_routes
from .people_pages import people_routes

if TYPE_CHECKING:
    from chinwag.app import Chinwag


def console_routes(app: Chinwag) -> list[BaseRoute]:
    """Make the app's console and return its routes."""
    app.plugin_state(ConsoleState).console = Console(app)
    return [*auth_routes(PREFIX), *people_routes(PREFIX), *overview_routes(PREFIX), *meeting_routes(PREFIX), *agent_routes(PREFIX),
            *integration_routes(PREFIX), *dialogue_routes(PREFIX), *appearance_routes(PREFIX),
            Mount(PREFIX + "/static", StaticFiles(directory=str(STATIC)), name="console-static")]

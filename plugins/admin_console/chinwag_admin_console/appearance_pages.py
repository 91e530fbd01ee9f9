"""Appearance: the widget theme's settings (colours, font, options) shown beside the real widget."""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .access import console_route
from .console import console_of
from .sessions import SignedIn

COLOUR = re.compile(r"^#[0-9a-fA-F]{3,8}$|^[a-zA-Z]{3,20}$|^rgba?\([0-9., %]+\)$")


def swatch(colour: str) -> str | None:
    """A small square of ``colour`` as an SVG data URI (an image: no inline style needed), or None
    for a value that is not a plain colour."""
    if not COLOUR.match(colour.strip()):
        return None
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20"><rect width="20" height="20" '
           f'fill="{colour.strip()}" stroke="#8a96a3"/></svg>')
    return "data:image/svg+xml," + quote(svg)


@console_route("theme")
async def appearance_page(request: Request, who: SignedIn) -> Response:
    """The theme's colours (with swatches), font and options, and a live widget to try them on."""
    console = console_of(request)
    app = console.app
    variables = [(name.removeprefix("--cw-").replace("-", " "), str(value), swatch(str(value)))
                 for name, value in app.theme.get("vars", {}).items()]
    first = min(app.dialogues.values(), key=lambda d: (d.priority, d.id), default=None)
    return console.render(request, "appearance.html", who, variables=variables,
                          options=sorted(app.theme.get("options", {}).items()), first=first)


def appearance_routes(prefix: str) -> list[Route]:
    """The appearance page."""
    return [Route(prefix + "/appearance", appearance_page)]

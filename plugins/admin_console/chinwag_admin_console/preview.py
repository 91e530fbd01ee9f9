"""The dialogue preview's mark: a conversation started from the console's preview page is the
team's own (``internal_visit``), so it counts in no report and reaches no CRM.

The preview page sets a signed cookie naming the signed-in user, scoped to the chat socket's path
and ``SameSite=Strict``: a browser sends it with the WebSocket of the console's own page, never
from the integrator's site, where that user is a visitor like any other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.requests import Request, cookie_parser
from starlette.responses import Response

if TYPE_CHECKING:
    from chinwag.app import Chinwag

    from .console import Console

PREVIEW_COOKIE = "chinwag_console_preview"
PREVIEW_LIFETIME = dt.timedelta(hours=1)
SOCKET_PATH = "/ws"
_PREFIX = "preview:"


def mark_preview(request: Request, response: Response, console: Console, email: str) -> None:
    """Set the cookie that marks the chats of ``response``'s page as ``email``'s preview."""
    response.set_cookie(PREVIEW_COOKIE, console.signer.sign(_PREFIX + email),
                        max_age=int(PREVIEW_LIFETIME.total_seconds()), path=SOCKET_PATH, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")


def previewed_by(app: Chinwag, headers: Mapping[str, str]) -> str | None:
    """The console user whose preview cookie the WebSocket request carries (signed, unexpired), or None."""
    from .console import ConsoleState

    console = app.plugin_state(ConsoleState).console
    header = headers.get("cookie")
    if console is None or not header:
        return None
    value = console.signer.read(cookie_parser(header).get(PREVIEW_COOKIE), PREVIEW_LIFETIME)
    if value is None or not value.startswith(_PREFIX):
        return None
    return value[len(_PREFIX):] or None

"""Who may do what: the roles' permissions, checked on the server for every route and action.

Every console route is wrapped by ``console_route(permission)``: no session sends the browser to
sign in (a form sent without one is refused), a role without the permission gets 403, and a
form (any POST) must carry the session's CSRF token. Checks on a particular object (an agent
may see only their own meetings and calendar) are made by the handler with ``may_manage_agent``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .sessions import SignedIn, csrf_matches, signed_in
from .users import User

# permission -> the roles that have it
PERMISSIONS: dict[str, frozenset[str]] = {
    "account": frozenset({"admin", "marketer", "agent"}),
    "reports": frozenset({"admin", "marketer"}),
    "dialogues": frozenset({"admin", "marketer"}),
    "publish": frozenset({"admin", "marketer"}),
    "theme": frozenset({"admin", "marketer"}),
    "meetings": frozenset({"admin", "agent"}),  # an agent: their own only
    "agents": frozenset({"admin", "agent"}),  # an agent: their own calendar only
    "routing": frozenset({"admin"}),  # the queue order
    "integrations": frozenset({"admin"}),
    "users": frozenset({"admin"}),
    "audit": frozenset({"admin"}),
}

Handler = Callable[[Request, SignedIn], Awaitable[Response]]


def may(user: User, permission: str) -> bool:
    """Whether ``user``'s role has ``permission``."""
    return user.role in PERMISSIONS[permission]


def may_manage_agent(user: User, agent_email: str) -> bool:
    """Whether ``user`` may see and change ``agent_email``'s calendar, availability and meetings."""
    return user.is_admin or (user.role == "agent" and user.email == agent_email.lower())


def console_route(permission: str) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler ``(request, signed_in) -> Response`` with the session, role and CSRF checks."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def decorate(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            from .console import console_of

            console = console_of(request)
            who = await signed_in(console.app, console.signer, request)
            if who is None:
                if request.method != "GET":
                    return console.message(request, None, "Signed out", "Your session has ended; sign in again.", 401)
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{console.prefix}/login?next={quote(target, safe='')}", status_code=303)
            if not may(who.user, permission):
                return console.forbidden(request, who)
            if request.method == "POST":
                form = await request.form()
                if not csrf_matches(who.csrf, form.get("csrf")):
                    return console.message(request, who, "Form expired",
                                           "This form was not sent from your current session. Reload the page and try again.", 403)
                request.state.form = form
            return await handler(request, who)

        return endpoint

    return decorate

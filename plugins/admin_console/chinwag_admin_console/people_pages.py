"""Users (admins invite and disable), the audit log (admins) and one's own account (API tokens)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import audit
from .access import console_route
from .console import console_of
from .sessions import SignedIn
from .users import ROLES, UserError, agent_emails, create_api_token, invite, list_users, revoke_api_token, set_disabled, user_tokens


def invite_url(request: Request, token: str) -> str:
    """The link an invited user opens (on the server's public URL, as calendar callbacks are)."""
    console = console_of(request)
    base = console.app.config.public_url or str(request.base_url).rstrip("/")
    return f"{base.rstrip('/')}{console.prefix}/invite/{token}"


@console_route("users")
async def users_page(request: Request, who: SignedIn) -> Response:
    """Every user, with a form to invite one and buttons to disable or enable."""
    console = console_of(request)
    notice = error = link = None
    if request.method == "POST":
        form = request.state.form
        action = form.get("action")
        try:
            if action == "invite":
                token = await invite(console.app, str(form.get("email", "")), str(form.get("role", "")),
                                     str(form.get("name", "")), by=who.user.email)
                link = invite_url(request, token)
                notice = f"Invite made for {form.get('email')}. Send them this link (valid 7 days, once):"
            elif action in ("disable", "enable"):
                changed = await set_disabled(console.app, str(form.get("email", "")), action == "disable", by=who.user.email)
                notice = f"{changed.email} {action}d."
            else:
                error = "Unknown action."
        except UserError as refused:
            error = str(refused)
    return console.render(request, "users.html", who, status=400 if error else 200, users=await list_users(console.app),
                          roles=ROLES, agents=sorted(agent_emails(console.app)), notice=notice, error=error, link=link)


@console_route("audit")
async def audit_page(request: Request, who: SignedIn) -> Response:
    """The newest changes first: when, who, what, to what."""
    console = console_of(request)
    actor = request.query_params.get("actor") or None
    return console.render(request, "audit.html", who, entries=await audit.entries(console.app, 500, actor), actor=actor)


@console_route("account")
async def account_page(request: Request, who: SignedIn) -> Response:
    """Who is signed in, and their admin API tokens (made, shown once, revoked)."""
    console = console_of(request)
    new_token = None
    if request.method == "POST":
        form = request.state.form
        if form.get("action") == "create-token":
            new_token = await create_api_token(console.app, who.user, str(form.get("label", "")))
        elif form.get("action") == "revoke-token":
            await revoke_api_token(console.app, who.user, str(form.get("token", "")))
    return console.render(request, "account.html", who, tokens=await user_tokens(console.app, who.user),
                          new_token=new_token)


def people_routes(prefix: str) -> list[Route]:
    """The users, audit and account pages."""
    return [Route(prefix + "/users", users_page, methods=["GET", "POST"]),
            Route(prefix + "/audit", audit_page),
            Route(prefix + "/account", account_page, methods=["GET", "POST"])]

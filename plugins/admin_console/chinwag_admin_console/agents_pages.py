"""Agents and routing: the queue in order (admins move agents up and down), each agent's calendar
status with Connect / Reconnect (the provider's consent, for that agent, with their address as
the login hint), availability, meeting length and buffer. An agent sees only their own page."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from chinwag.meetings.agent_state import queue, set_order, start_connect
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import audit
from .access import console_route, may, may_manage_agent
from .agents_info import agent_settings
from .console import console_of
from .sessions import SignedIn


@console_route("agents")
async def agents_page(request: Request, who: SignedIn) -> Response:
    """The routing queue (admins); an agent is sent to their own page."""
    console = console_of(request)
    if not may(who.user, "routing"):
        return RedirectResponse(f"{console.prefix}/agents/{quote(who.user.email)}", status_code=303)
    notice = {"moved": "The queue order was saved."}.get(request.query_params.get("done", ""))
    return console.render(request, "agents.html", who, queue=await queue(console.app),
                          settings=agent_settings(console.app), notice=notice)


@console_route("routing")
async def move_agent(request: Request, who: SignedIn) -> Response:
    """POST ``email`` and ``direction`` (up, down, top): reorder the queue."""
    console = console_of(request)
    form = request.state.form
    order = [row.email for row in await queue(console.app)]
    email, direction = str(form.get("email", "")).lower(), form.get("direction")
    if email not in order or direction not in ("up", "down", "top"):
        return console.message(request, who, "Cannot move", "Name an agent of the queue and up, down or top.", 400)
    index = order.index(email)
    order.pop(index)
    order.insert(0 if direction == "top" else max(0, index - 1) if direction == "up" else index + 1, email)
    await set_order(console.app, order)
    await audit.record_now(console.app, who.user.email, "queue.reordered", email, {"direction": direction, "order": order})
    return RedirectResponse(f"{console.prefix}/agents?done=moved", status_code=303)


def _provider_origin(app: object, provider_name: str) -> tuple[str, ...]:
    """The origin of the provider's consent page (the Connect form leads there: form-action)."""
    provider = app.calendar_providers.get(provider_name)  # type: ignore[attr-defined]
    if provider is None:
        return ()
    try:
        url = provider.authorization_url(app, "origin-probe", "http://127.0.0.1/", login_hint=None)
    except Exception:  # a provider without its settings: Connect will say so
        return ()
    parts = urlsplit(url)
    return (f"{parts.scheme}://{parts.netloc}",) if parts.scheme in ("http", "https") and parts.netloc else ()


@console_route("agents")
async def agent_page(request: Request, who: SignedIn) -> Response:
    """One agent: calendar status, Connect / Reconnect, availability, duration and buffer."""
    console = console_of(request)
    email = request.path_params["email"].lower()
    settings = agent_settings(console.app).get(email)
    if not may_manage_agent(who.user, email):
        return console.forbidden(request, who)
    if settings is None:
        return console.message(request, who, "No such agent", f"{email} is not listed under agents: in chinwag.yaml.", 404)
    status = next((row for row in await queue(console.app) if row.email == email), None)
    return console.render(request, "agent.html", who, agent=settings, queue_row=status,
                          error=request.query_params.get("error"), form_targets=_provider_origin(console.app, settings.provider))


@console_route("agents")
async def connect_agent(request: Request, who: SignedIn) -> Response:
    """POST: start the provider's consent for this agent and send the browser there."""
    console = console_of(request)
    email = request.path_params["email"].lower()
    if not may_manage_agent(who.user, email):
        return console.forbidden(request, who)
    settings = agent_settings(console.app).get(email)
    if settings is None:
        return console.message(request, who, "No such agent", f"{email} is not listed under agents: in chinwag.yaml.", 404)
    try:
        url = await start_connect(console.app, email, settings.provider)
    except ValueError as error:
        return console.message(request, who, "Cannot connect", str(error), 400)
    await audit.record_now(console.app, who.user.email, "calendar.connect_started", email, {"provider": settings.provider})
    return RedirectResponse(url, status_code=303)


def agent_routes(prefix: str) -> list[Route]:
    """The queue, reordering, an agent's page and their Connect button."""
    return [Route(prefix + "/agents", agents_page), Route(prefix + "/agents/move", move_agent, methods=["POST"]),
            Route(prefix + "/agents/{email}", agent_page),
            Route(prefix + "/agents/{email}/connect", connect_agent, methods=["POST"])]

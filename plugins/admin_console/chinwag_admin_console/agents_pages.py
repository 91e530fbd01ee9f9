"""Agents and routing: the queue in order (admins move agents up and down), each agent's calendar
status with Connect / Reconnect (the provider's consent, for that agent, with their address as
the login hint), and their schedule (weekly hours, time zone, meeting length, buffer, notice,
horizon), which the agent or an admin edits. An agent sees only their own page."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from chinwag.meetings.agent_state import queue, set_order, start_connect
from chinwag.meetings.agents import WEEKDAYS
from chinwag.meetings.schedules import (ScheduleProblem, clear_schedule, refresh_schedules, save_schedule,
                                       schedule_problems)
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import audit
from .access import console_route, may, may_manage_agent
from .agents_info import AgentSettings, agent_settings
from .console import console_of
from .sessions import SignedIn


@console_route("agents")
async def agents_page(request: Request, who: SignedIn) -> Response:
    """The routing queue (admins); an agent is sent to their own page."""
    console = console_of(request)
    if not may(who.user, "routing"):
        return RedirectResponse(f"{console.prefix}/agents/{quote(who.user.email)}", status_code=303)
    notice = {"moved": "The queue order was saved."}.get(request.query_params.get("done", ""))
    await refresh_schedules(console.app)
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
    """One agent: calendar status, Connect / Reconnect, and their schedule's form."""
    console = console_of(request)
    email = request.path_params["email"].lower()
    if not may_manage_agent(who.user, email):
        return console.forbidden(request, who)
    await refresh_schedules(console.app)
    settings = agent_settings(console.app).get(email)
    if settings is None:
        return console.message(request, who, "No such agent", f"{email} is not listed under agents: in chinwag.yaml.", 404)
    notice = {"saved": "The schedule was saved: new bookings follow it.",
              "cleared": "The saved schedule was cleared: chinwag.yaml's applies again."}.get(
        request.query_params.get("done", ""))
    return await _agent_page(request, who, settings, notice=notice, error=request.query_params.get("error"))


async def _agent_page(request: Request, who: SignedIn, settings: AgentSettings, status: int = 200,
                      **context: object) -> Response:
    console = console_of(request)
    row = next((row for row in await queue(console.app) if row.email == settings.email), None)
    context.setdefault("form", _form_of(settings))
    context.setdefault("problems", {})
    context.setdefault("notice", None)
    context.setdefault("error", None)
    return console.render(request, "agent.html", who, status=status, agent=settings, queue_row=row, weekdays=WEEKDAYS,
                          form_targets=_provider_origin(console.app, settings.provider), **context)


def _form_of(settings: AgentSettings) -> dict[str, str]:
    """The schedule form's fields as the settings in force fill them."""
    form = {f"hours_{day}": settings.hours(day) for day in WEEKDAYS}
    form.update(time_zone=settings.time_zone, duration=str(settings.duration), buffer_after=str(settings.buffer_after),
                minimum_notice=str(settings.minimum_notice), horizon_days=str(settings.horizon_days))
    return form


NUMBER_FIELDS = ("duration", "buffer_after", "minimum_notice", "horizon_days")
FIELD_LIMIT = 200  # characters a field may hold; a longer value is refused before it is read


def schedule_from_form(form: dict[str, str]) -> tuple[dict[str, object], list[ScheduleProblem]]:
    """The schedule's keys from the form's fields (hours as "09:00-12:00, 13:00-17:00" per day, an
    empty day off), and the problems only the form can have (too long, not a number)."""
    problems = [ScheduleProblem("availability" if key.startswith("hours_") else key,
                                f"{key.removeprefix('hours_')}: longer than {FIELD_LIMIT} characters")
                for key, value in form.items() if len(value) > FIELD_LIMIT]
    if problems:
        return {}, problems
    week = {day: [span.strip() for span in form.get(f"hours_{day}", "").split(",") if span.strip()] for day in WEEKDAYS}
    values: dict[str, object] = {"time_zone": form.get("time_zone", "").strip(),
                                 "availability": {day: spans for day, spans in week.items() if spans}}
    for key in NUMBER_FIELDS:
        text = form.get(key, "").strip()
        if text.isascii() and text.isdigit():
            values[key] = int(text)
        else:
            problems.append(ScheduleProblem(key, "must be a whole number of " + ("days" if key == "horizon_days" else "minutes")))
    return values, problems


@console_route("agents")
async def save_agent_schedule(request: Request, who: SignedIn) -> Response:
    """POST the schedule's form (``action`` save or clear): checked by chinwag.yaml's rules, then
    saved for this agent, or cleared so that chinwag.yaml's applies again."""
    console = console_of(request)
    email = request.path_params["email"].lower()
    if not may_manage_agent(who.user, email):
        return console.forbidden(request, who)
    await refresh_schedules(console.app)
    settings = agent_settings(console.app).get(email)
    if settings is None:
        return console.message(request, who, "No such agent", f"{email} is not listed under agents: in chinwag.yaml.", 404)
    form = {key: str(value) for key, value in request.state.form.items() if key != "csrf"}
    if form.get("action") == "clear":
        if await clear_schedule(console.app, email):
            await audit.record_now(console.app, who.user.email, "agent.schedule_cleared", email)
        return RedirectResponse(f"{console.prefix}/agents/{quote(email)}?done=cleared", status_code=303)
    values, problems = schedule_from_form(form)
    if problems:  # the form's own problems, and what else the checks find in the rest
        named = {problem.key for problem in problems}
        problems += [p for p in schedule_problems(console.app, email, values) if p.key not in named]
    else:
        problems = await save_schedule(console.app, email, values, by=who.user.email)
    if problems:
        return await _agent_page(request, who, settings, status=400, form=form,
                                 problems={problem.key: problem.message for problem in problems},
                                 error="The schedule was not saved: correct the fields marked below.")
    await audit.record_now(console.app, who.user.email, "agent.schedule_saved", email, values)
    return RedirectResponse(f"{console.prefix}/agents/{quote(email)}?done=saved", status_code=303)


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
    """The queue, reordering, an agent's page, their schedule's form and their Connect button."""
    return [Route(prefix + "/agents", agents_page), Route(prefix + "/agents/move", move_agent, methods=["POST"]),
            Route(prefix + "/agents/{email}", agent_page),
            Route(prefix + "/agents/{email}/schedule", save_agent_schedule, methods=["POST"]),
            Route(prefix + "/agents/{email}/connect", connect_agent, methods=["POST"])]

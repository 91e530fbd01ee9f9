"""Meetings: the list with filters (agent, status, dates, passed or not), a meeting's page with
cancel and reschedule, and the conversation it came from. An agent sees only their own."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from chinwag.admin import conversation
from chinwag.calendars import CalendarError
from chinwag.meetings.admin import MeetingError, cancel_meeting, list_meetings, reschedule_meeting
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import audit
from .access import console_route, may_manage_agent
from .agents_info import agent_settings
from .console import console_of
from .sessions import SignedIn

# The status filter: booked (not cancelled, the default), one status, or any.
STATUSES = {"booked": "Booked", "scheduled": "Scheduled", "rescheduled": "Rescheduled", "cancelled": "Cancelled",
            "any": "Any"}


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _in_zone(iso: str, zone: str) -> str:
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y, %H:%M")


@console_route("meetings")
async def meetings_page(request: Request, who: SignedIn) -> Response:
    """The meetings matching the filters, soonest first."""
    console = console_of(request)
    params = request.query_params
    agents = agent_settings(console.app)
    agent = who.user.email if who.user.role == "agent" else (params.get("agent") or None)
    if agent is not None and agent not in agents:
        agent = None
    status, when = params.get("status") or "booked", params.get("when") or "upcoming"
    first, last = _date(params.get("since")), _date(params.get("until"))
    rows = await list_meetings(console.app, agent)
    shown = []
    for row in rows:
        day = row["start"][:10]
        if status == "booked" and row["status"] == "cancelled" or status not in ("booked", "any") and row["status"] != status:
            continue
        if (when == "upcoming" and row["passed"]) or (when == "passed" and not row["passed"]):
            continue
        if (first and day < first.isoformat()) or (last and day > last.isoformat()):
            continue
        zone = agents[row["agent_email"]].time_zone if row["agent_email"] in agents else "UTC"
        shown.append({**row, "local": _in_zone(row["start"], zone), "zone": zone})
    if when == "passed":
        shown.reverse()  # the most recent first
    return console.render(request, "meetings.html", who, meetings=shown, agents=agents, agent=agent, status_filter=status,
                          when=when, since=params.get("since") or "", until=params.get("until") or "",
                          statuses=STATUSES, agent_locked=who.user.role == "agent")


async def _meeting(request: Request, who: SignedIn) -> dict[str, Any] | None:
    """The meeting in the path, when it exists and ``who`` may see it."""
    meeting_id = request.path_params["id"]
    for row in await list_meetings(console_of(request).app):
        if row["id"] == meeting_id and may_manage_agent(who.user, row["agent_email"]):
            return row
    return None


@console_route("meetings")
async def meeting_page(request: Request, who: SignedIn) -> Response:
    """One meeting: who, when (in the agent's zone and UTC), where it came from; cancel or move it."""
    console = console_of(request)
    meeting = await _meeting(request, who)
    if meeting is None:
        return console.message(request, who, "No such meeting", "There is no meeting with that id that you may see.", 404)
    done = {"cancel": "The meeting was cancelled.", "reschedule": "The meeting was moved."}.get(
        request.query_params.get("done", ""))
    return _meeting_view(request, who, meeting, notice=done)


def _meeting_view(request: Request, who: SignedIn, meeting: dict[str, Any], error: str | None = None,
                  notice: str | None = None, status: int = 200) -> Response:
    console = console_of(request)
    agent = agent_settings(console.app).get(meeting["agent_email"])
    zone = agent.time_zone if agent else "UTC"
    start = dt.datetime.fromisoformat(meeting["start"].replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    return console.render(request, "meeting.html", who, status=status, meeting=meeting, zone=zone,
                          local=_in_zone(meeting["start"], zone), local_end=_in_zone(meeting["end"], zone),
                          default_move=start.strftime("%Y-%m-%dT%H:%M"), error=error, notice=notice)


@console_route("meetings")
async def change_meeting(request: Request, who: SignedIn) -> Response:
    """POST cancel, or reschedule to ``start`` (a local time in the agent's zone)."""
    console = console_of(request)
    meeting = await _meeting(request, who)
    if meeting is None:
        return console.message(request, who, "No such meeting", "There is no meeting with that id that you may see.", 404)
    action = request.path_params["action"]
    form = request.state.form
    try:
        if action == "cancel":
            changed = await cancel_meeting(console.app, meeting["id"])
            await audit.record_now(console.app, who.user.email, "meeting.cancelled", meeting["id"],
                                   {"agent": meeting["agent_email"], "start": meeting["start"]})
        elif action == "reschedule":
            agent = agent_settings(console.app).get(meeting["agent_email"])
            zone = ZoneInfo(agent.time_zone if agent else "UTC")
            try:
                local = dt.datetime.fromisoformat(str(form.get("start", "")))
            except ValueError:
                return _meeting_view(request, who, meeting, error="Give the new start as a date and time.", status=400)
            start = (local if local.tzinfo else local.replace(tzinfo=zone)).astimezone(dt.timezone.utc)
            changed = await reschedule_meeting(console.app, meeting["id"], start)
            await audit.record_now(console.app, who.user.email, "meeting.rescheduled", meeting["id"],
                                   {"agent": meeting["agent_email"], "from": meeting["start"], "to": changed["start"]})
        else:
            return console.message(request, who, "Unknown action", "A meeting can be cancelled or rescheduled.", 404)
    except MeetingError as error:
        return _meeting_view(request, who, meeting, error=str(error), status=409)
    except CalendarError as error:
        return _meeting_view(request, who, meeting, error=f"The calendar provider failed: {error}", status=502)
    return RedirectResponse(f"{console.prefix}/meetings/{changed['id']}?done={action}", status_code=303)


@console_route("meetings")
async def conversation_page(request: Request, who: SignedIn) -> Response:
    """The conversation a meeting came from (an agent: only their meetings')."""
    return await show_conversation(request, who, request.path_params["session"], meetings_only=True)


async def show_conversation(request: Request, who: SignedIn, session_id: str, meetings_only: bool,
                            dialogue_id: str | None = None) -> Response:
    """A transcript page; for an agent only when one of their meetings came from it; with
    ``dialogue_id`` only when the conversation is of that dialogue."""
    console = console_of(request)
    if meetings_only and not who.user.is_admin:
        theirs = {row["session_id"] for row in await list_meetings(console.app, who.user.email)}
        if session_id not in theirs:
            return console.forbidden(request, who)
    found = await conversation(console.app, session_id)
    if found is None or (dialogue_id is not None and found["dialogue"] != dialogue_id):
        return console.message(request, who, "No such conversation",
                               "It may have been purged by the retention policy or forgotten.", 404)
    return console.render(request, "conversation.html", who, conversation=found,
                          dialogue_name=getattr(console.app.known_dialogues().get(found["dialogue"]), "name", found["dialogue"]))


def meeting_routes(prefix: str) -> list[Route]:
    """The meetings list, a meeting, its actions and its conversation."""
    return [Route(prefix + "/meetings", meetings_page), Route(prefix + "/meetings/{id}", meeting_page),
            Route(prefix + "/meetings/{id}/{action}", change_meeting, methods=["POST"]),
            Route(prefix + "/conversations/{session}", conversation_page)]

"""Dialogues: the list with status, version, priority and key rates; a dialogue's page with its
flow drawn as cards and branches, the funnel per card, versions, pages, recent conversations and
a live preview in the real widget."""

from __future__ import annotations

import datetime as dt
from typing import Any

from chinwag.admin import recent_conversations
from chinwag.publishing import PublishingError, publication_states, publish, unpublish
from chinwag.reports import ReportPeriod, dialogue_report
from chinwag.store import utcnow
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import audit
from .access import console_route, may
from .charts import funnel_chart, svg_response
from .console import console_of
from .flow import flow
from .meetings_pages import show_conversation
from .preview import mark_preview
from .period import PeriodError, page_period
from .sessions import SignedIn

LIST_DAYS = 30


def running_state(dialogue: Any, now: dt.datetime) -> str:
    """``running``, ``scheduled`` (starts later) or ``ended``, from the dialogue's starts and ends."""
    if dialogue.starts is not None and now < dialogue.starts:
        return "scheduled"
    if dialogue.ends is not None and now >= dialogue.ends:
        return "ended"
    return "running"


@console_route("dialogues")
async def dialogues_page(request: Request, who: SignedIn) -> Response:
    """Every dialogue, by priority: publication status, versions, priority and the last 30 days' rates."""
    console = console_of(request)
    app = console.app
    report = await dialogue_report(app, ReportPeriod.last_days(LIST_DAYS))
    now = utcnow()
    known = app.known_dialogues()
    states = sorted(await publication_states(app), key=lambda state: (state.priority is None, state.priority or 0, state.id))
    rows = [{"state": state, "schedule": running_state(known[state.id], now) if state.id in known else None,
             "counts": report["dialogues"].get(state.id, {})} for state in states]
    return console.render(request, "dialogues.html", who, rows=rows, days=LIST_DAYS)


def _dialogue(request: Request) -> Any:
    """The dialogue in the path: its published version, else its file's; None when unknown."""
    return console_of(request).app.known_dialogues().get(request.path_params["id"])


async def _publication(app: Any, dialogue_id: str) -> Any:
    """The dialogue's publication state (status, versions), or None."""
    return next((state for state in await publication_states(app) if state.id == dialogue_id), None)


@console_route("publish")
async def change_publication(request: Request, who: SignedIn) -> Response:
    """POST ``action`` publish (``version``: default the newest) or unpublish; audited."""
    console = console_of(request)
    dialogue_id = request.path_params["id"]
    form = request.state.form
    action = form.get("action")
    try:
        if action == "publish":
            text = str(form.get("version") or "")
            version = int(text) if text.isascii() and text.isdigit() else None
            done = await publish(console.app, dialogue_id, version, by=who.user.email)
        elif action == "unpublish":
            done = await unpublish(console.app, dialogue_id, by=who.user.email)
        else:
            return console.message(request, who, "Unknown action", "A dialogue can be published or unpublished.", 400)
    except PublishingError as error:
        return console.message(request, who, "Cannot do that", str(error), 409)
    await audit.record_now(console.app, who.user.email, f"dialogue.{done.status}", dialogue_id, {"version": done.version})
    return RedirectResponse(f"{console.prefix}/dialogues/{dialogue_id}?done={done.status}", status_code=303)


@console_route("dialogues")
async def dialogue_page(request: Request, who: SignedIn) -> Response:
    """One dialogue: its flow, funnel, versions, pages and conversations, for the chosen period."""
    console = console_of(request)
    dialogue = _dialogue(request)
    if dialogue is None:
        return console.message(request, who, "No such dialogue", "No dialogue of this project has that id.", 404)
    try:
        period = page_period(request.query_params)
    except PeriodError as error:
        return console.message(request, who, "Cannot show that range", str(error), 400)
    report = await dialogue_report(console.app, ReportPeriod(period.report.since, period.report.until, dialogue.id))
    counts = report["dialogues"].get(dialogue.id) or {"funnel": [], "pages": {}, "versions": {}}
    notice = {"published": "Published: visitors get this version now.",
              "unpublished": "Unpublished: no new visitor gets it; those who engaged finish."}.get(
        request.query_params.get("done", ""))
    return console.render(request, "dialogue.html", who, dialogue=dialogue, period=period, counts=counts,
                          cards=flow(dialogue, counts["funnel"]), state=running_state(dialogue, utcnow()),
                          publication=await _publication(console.app, dialogue.id), notice=notice,
                          may_publish=may(who.user, "publish"),
                          conversations=await recent_conversations(console.app, dialogue.id, 20))


@console_route("dialogues")
async def funnel_image(request: Request, who: SignedIn) -> Response:
    """The dialogue's funnel per question card, as an SVG image."""
    dialogue = _dialogue(request)
    if dialogue is None:
        return Response("no such dialogue", status_code=404)
    try:
        period = page_period(request.query_params)
    except PeriodError as error:
        return Response(str(error), status_code=400)
    report = await dialogue_report(console_of(request).app, ReportPeriod(period.report.since, period.report.until,
                                                                          dialogue.id))
    counts = report["dialogues"].get(dialogue.id) or {"funnel": [], "triggered": 0}
    steps = [("Shown", counts.get("triggered", 0))] + [(row["card"], row["reached"]) for row in counts["funnel"]]
    return svg_response(funnel_chart(f"{dialogue.name}: sessions reaching each question", steps))


@console_route("dialogues")
async def dialogue_conversation(request: Request, who: SignedIn) -> Response:
    """One conversation of the dialogue (its transcript; visitor text shown as text)."""
    return await show_conversation(request, who, request.path_params["session"], meetings_only=False,
                                   dialogue_id=request.path_params["id"])


@console_route("dialogues")
async def preview_page(request: Request, who: SignedIn) -> Response:
    """The dialogue in the real widget, on a page of its own; its conversations are marked as
    previews (``chinwag_admin_console.preview``), kept out of reports and CRMs."""
    console = console_of(request)
    dialogue = _dialogue(request)
    if dialogue is None:
        return console.message(request, who, "No such dialogue", "No dialogue of this project has that id.", 404)
    page = console.render(request, "preview.html", who, dialogue=dialogue,
                          published=dialogue.id in console.app.dialogues)
    mark_preview(request, page, console, who.user.email)  # its chats are the team's own: not counted
    return page


def dialogue_routes(prefix: str) -> list[Route]:
    """The dialogues list, a dialogue, its funnel image, a conversation and the preview."""
    return [Route(prefix + "/dialogues", dialogues_page), Route(prefix + "/dialogues/{id}", dialogue_page),
            Route(prefix + "/dialogues/{id}/funnel.svg", funnel_image),
            Route(prefix + "/dialogues/{id}/preview", preview_page),
            Route(prefix + "/dialogues/{id}/publication", change_publication, methods=["POST"]),
            Route(prefix + "/dialogues/{id}/conversations/{session}", dialogue_conversation)]

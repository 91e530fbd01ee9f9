"""Dialogues: the list with status, version, priority and key rates; a dialogue's page with its
flow drawn as cards and branches, the funnel per card, versions, pages, recent conversations and
a live preview in the real widget."""

from __future__ import annotations

import datetime as dt
from typing import Any

from chinwag.admin import recent_conversations
from chinwag.reports import ReportPeriod, dialogue_report
from chinwag.store import utcnow
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .access import console_route
from .charts import funnel_chart, svg_response
from .console import console_of
from .flow import flow
from .meetings_pages import show_conversation
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
    """Every dialogue, by priority: status, version, priority and the last 30 days' rates."""
    console = console_of(request)
    app = console.app
    report = await dialogue_report(app, ReportPeriod.last_days(LIST_DAYS))
    now = utcnow()
    rows = [{"dialogue": d, "state": running_state(d, now), "counts": report["dialogues"].get(d.id, {})}
            for d in sorted(app.dialogues.values(), key=lambda d: (d.priority, d.id))]
    return console.render(request, "dialogues.html", who, rows=rows, days=LIST_DAYS)


def _dialogue(request: Request) -> Any:
    return console_of(request).app.dialogues.get(request.path_params["id"])


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
    return console.render(request, "dialogue.html", who, dialogue=dialogue, period=period, counts=counts,
                          cards=flow(dialogue, counts["funnel"]), state=running_state(dialogue, utcnow()),
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
    """The dialogue in the real widget, on a page of its own."""
    console = console_of(request)
    dialogue = _dialogue(request)
    if dialogue is None:
        return console.message(request, who, "No such dialogue", "No dialogue of this project has that id.", 404)
    return console.render(request, "preview.html", who, dialogue=dialogue)


def dialogue_routes(prefix: str) -> list[Route]:
    """The dialogues list, a dialogue, its funnel image, a conversation and the preview."""
    return [Route(prefix + "/dialogues", dialogues_page), Route(prefix + "/dialogues/{id}", dialogue_page),
            Route(prefix + "/dialogues/{id}/funnel.svg", funnel_image),
            Route(prefix + "/dialogues/{id}/preview", preview_page),
            Route(prefix + "/dialogues/{id}/conversations/{session}", dialogue_conversation)]

"""Overview: triggered, engaged, completed, leads, meetings and goals over time, top dialogues,
top pages, known and anonymous visitors, for a date range; as a chart, tables and CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from typing import Any

from chinwag.reports import dialogue_report, report_csv, report_series
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .access import console_route
from .charts import LABELS, series_chart, svg_response
from .console import console_of
from .period import PagePeriod, PeriodError, page_period
from .sessions import SignedIn

MEASURES = ("triggered", "engaged", "completed", "lead_captured", "meeting_booked", "goal_reached")


def _measures(counted: list[str]) -> list[str]:
    """The overview's measures this app reports (meetings only with the meetings plugin)."""
    return [name for name in MEASURES if name in counted]


def _label(bucket: dict[str, Any], step: str) -> str:
    day = bucket["since"][:10]
    return f"week of {day}" if step == "week" else day


def _short_label(since: str) -> str:
    """A bucket's start as the chart's axis shows it: ``4 Nov``."""
    day = dt.date.fromisoformat(since[:10])
    return f"{day.day} {day.strftime('%b')}"


async def _series(request: Request, period: PagePeriod) -> list[dict[str, Any]]:
    return await report_series(console_of(request).app, period.report, period.bucket)


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """Totals across dialogues, the top dialogues and pages, known and anonymous visitors."""
    totals: Counter[str] = Counter()
    pages: Counter[str] = Counter()
    visitors: Counter[str] = Counter()
    for counts in report["dialogues"].values():
        for name in report["counted"]:
            totals[name] += counts.get(name, 0)
        for page, group in counts["pages"].items():
            pages[page] += group["sessions"]
        visitors.update(counts["visitors"])
    engaged, triggered = totals["engaged"], totals["triggered"]
    top = sorted(report["dialogues"].items(), key=lambda item: (-item[1].get("triggered", 0), item[0]))
    return {"totals": totals, "engagement_rate": engaged / triggered if triggered else None,
            "conversion_rate": totals["lead_captured"] / engaged if engaged else None,
            "top_dialogues": top[:10], "top_pages": pages.most_common(10),
            "known": visitors["known"], "anonymous": visitors["anonymous"]}


@console_route("reports")
async def overview(request: Request, who: SignedIn) -> Response:
    """The overview page for the period in the query string."""
    console = console_of(request)
    try:
        period = page_period(request.query_params)
    except PeriodError as error:
        return console.message(request, who, "Cannot show that range", str(error), 400)
    report = await dialogue_report(console.app, period.report)
    series = await _series(request, period)
    measures = _measures(report["counted"])
    return console.render(request, "overview.html", who, period=period, summary=summarise(report), series=series,
                          measures=measures, labels=LABELS, names=_dialogue_names(console.app),
                          measure_names=", ".join(LABELS[name].lower() for name in measures),
                          bucket_label=lambda bucket: _label(bucket, period.step))


def _dialogue_names(app: Any) -> dict[str, str]:
    return {dialogue_id: dialogue.name for dialogue_id, dialogue in app.known_dialogues().items()}


@console_route("reports")
async def overview_chart(request: Request, who: SignedIn) -> Response:
    """The measures over time, as an SVG image."""
    try:
        period = page_period(request.query_params)
    except PeriodError as error:
        return Response(str(error), status_code=400)
    series = await _series(request, period)
    measures = _measures(list(series[0]) if series else [])
    svg = series_chart(f"By {period.step}, {period.first} to {period.last} (UTC)",
                       [_short_label(bucket["since"]) for bucket in series],
                       {name: [bucket[name] for bucket in series] for name in measures})
    return svg_response(svg)


@console_route("reports")
async def overview_csv(request: Request, who: SignedIn) -> Response:
    """``?table=series`` (default): the measures per day or week; ``?table=dialogues``: per dialogue."""
    console = console_of(request)
    try:
        period = page_period(request.query_params)
    except PeriodError as error:
        return Response(str(error), status_code=400)
    table = request.query_params.get("table", "series")
    if table == "dialogues":
        text = report_csv(await dialogue_report(console.app, period.report))
    elif table == "series":
        series = await _series(request, period)
        measures = _measures(list(series[0]) if series else [])
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["since", "until", *measures])
        for bucket in series:
            writer.writerow([bucket["since"][:10], bucket["until"][:10], *(bucket[name] for name in measures)])
        text = buffer.getvalue()
    else:
        return Response("table must be series or dialogues", status_code=400)
    name = f"chinwag-{table}-{period.first}-{period.last}.csv"
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def overview_routes(prefix: str) -> list[Route]:
    """The overview page, its chart and its CSV."""
    return [Route(prefix + "/overview", overview), Route(prefix + "/overview/chart.svg", overview_chart),
            Route(prefix + "/overview.csv", overview_csv)]

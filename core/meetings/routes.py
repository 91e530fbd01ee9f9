"""Admin endpoints for meetings: list, cancel, reschedule (Bearer admin token, JSON)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..admin import admin_only
from ..calendars import CalendarError
from .admin import MeetingError, cancel_meeting, list_meetings, reschedule_meeting


def parse_time(text: str | None) -> dt.datetime | None:
    """An ISO 8601 instant; one without an offset is read as UTC. Raise ValueError when malformed."""
    if not text:
        return None
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=moment.tzinfo or dt.timezone.utc).astimezone(dt.timezone.utc)


@admin_only
async def meetings_json(request: Request) -> Response:
    """``?agent=EMAIL&since=ISO``: the meetings list."""
    try:
        since = parse_time(request.query_params.get("since"))
    except ValueError:
        return JSONResponse({"error": "since must be an ISO 8601 time"}, status_code=400)
    app = request.app.state.chinwag
    return JSONResponse({"meetings": await list_meetings(app, request.query_params.get("agent"), since)})


@admin_only
async def change_meeting(request: Request) -> Response:
    """POST ``/-/admin/meetings/{id}/cancel``, or ``.../reschedule`` with ``{"start": ISO}``."""
    app, meeting_id, action = request.app.state.chinwag, request.path_params["id"], request.path_params["action"]
    if action not in ("cancel", "reschedule"):
        return JSONResponse({"error": "the action is cancel or reschedule"}, status_code=404)
    try:
        if action == "cancel":
            meeting = await cancel_meeting(app, meeting_id)
        else:
            body = await request.json()
            start = parse_time(body.get("start") if isinstance(body, dict) else None)
            if start is None:
                return JSONResponse({"error": "reschedule needs {\"start\": ISO 8601 time}"}, status_code=400)
            meeting = await reschedule_meeting(app, meeting_id, start)
    except ValueError:
        return JSONResponse({"error": "the body must be JSON with an ISO 8601 start"}, status_code=400)
    except MeetingError as error:
        return JSONResponse({"error": str(error)}, status_code=409)
    except CalendarError as error:
        return JSONResponse({"error": f"the calendar provider failed: {error}"}, status_code=502)
    return JSONResponse({"meeting": meeting})


def meeting_routes() -> list[Any]:
    """The meetings admin routes."""
    return [Route("/-/admin/meetings.json", meetings_json),
            Route("/-/admin/meetings/{id}/{action:str}", change_meeting, methods=["POST"])]

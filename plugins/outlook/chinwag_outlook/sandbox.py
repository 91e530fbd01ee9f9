"""A local stand-in for Microsoft's sign-in (Entra) and Graph calendar servers, for tests and the demo.

It speaks the documented request and response shapes (token endpoint with rotating refresh
tokens, sign-in page, ``/me``, getSchedule, calendarView, events create/get/patch/cancel/delete, Graph's and Entra's
error bodies) and keeps everything in memory. ``/_sandbox`` routes let a person or a test look
inside and inject faults.

Run it alone: ``python -m chinwag_outlook.sandbox --port 8702``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from chinwag import sandbox
from chinwag.sandbox import Fault, SandboxServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .sandbox_state import (
    FAULT_ERRORS, GraphApiError, GraphSandboxState, availability_view, token_error, utc_form, utc_time,
)

__all__ = ["SandboxServer", "create_sandbox", "main", "plugin_config", "serve_in_thread"]
MAX_SCHEDULES = 20
MAX_SCHEDULE_SPAN = dt.timedelta(days=62)
PREFERRED_ZONE = re.compile(r'outlook\.timezone="([^"]+)"')


def new_state() -> GraphSandboxState:
    """A fresh sandbox: no accounts, events or faults yet."""
    return GraphSandboxState()


def create_sandbox(state: GraphSandboxState | None = None) -> Starlette:
    """The sandbox ASGI app; its state is ``app.state.sandbox`` (a ``GraphSandboxState``)."""
    state = state or GraphSandboxState()

    # Apply injected faults, then answer Graph errors in Graph's shape.
    api = sandbox.fault_guard(state, _fault_response, GraphApiError,
                              lambda error: JSONResponse(error.body(), status_code=error.status))

    def mailbox(request: Request) -> str:
        """The mailbox of the path (``/me`` or ``/users/{id}``), which must be the caller's own."""
        owner = sandbox.bearer_user(request, state)
        if owner is None:
            raise GraphApiError(401, *FAULT_ERRORS[401])
        wanted = request.path_params.get("user", owner).lower()
        if wanted != owner:
            raise GraphApiError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return owner

    async def token(request: Request) -> Response:
        if request.path_params["tenant"].lower() not in state.tenants:
            return JSONResponse(token_error("tenant_not_found"), 400)
        form = await sandbox.token_form(request, state)
        if form is None:
            return JSONResponse(token_error("invalid_client"), 401)
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            tokens = state.redeem_code(form.get("code", ""), form.get("redirect_uri", ""))
            return JSONResponse(tokens) if tokens else JSONResponse(token_error("bad_code"), 400)
        if grant_type == "refresh_token":
            answer = state.refresh(form.get("refresh_token", ""))
            return JSONResponse(token_error(answer), 400) if isinstance(answer, str) else JSONResponse(answer)
        return JSONResponse({**token_error("bad_code"), "error": "unsupported_grant_type"}, 400)

    async def sign_in(request: Request) -> Response:
        if request.path_params["tenant"].lower() not in state.tenants:
            return HTMLResponse("<h1>Sign in</h1><p>AADSTS90002: Tenant not found.</p>", 400)
        if request.method == "GET":
            params = dict(request.query_params)
            if not sandbox.is_authorization_request(params, state):
                return HTMLResponse("<h1>Sign in</h1><p>AADSTS700016: Application not found in the directory.</p>", 400)
            return HTMLResponse(sandbox.consent_page(
                params, title="Sign in to your account (sandbox)", heading="Microsoft sandbox",
                asks="chinwag wants these permissions:", owner_label="Mailbox", allow_label="Accept"))
        form = await sandbox.read_form(request)
        answer: dict[str, str] = {"state": form.get("state", "")}
        if form.get("decision") == "allow" and form.get("email"):
            answer["code"] = state.issue_code(form["email"], form.get("redirect_uri", ""), form.get("scope", ""))
        else:
            answer.update(error="access_denied", error_description="The user has denied access to the scope requested by the client application.")
        return sandbox.redirect_to_client(form, answer)

    async def me(request: Request) -> Response:
        """The signed-in user (``mail``, ``userPrincipalName``); needs the User.Read permission."""
        owner = mailbox(request)
        if not state.has_scope(owner, "https://graph.microsoft.com/User.Read") and not state.has_scope(owner, "User.Read"):
            raise GraphApiError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        return JSONResponse({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
                             **state.profile(owner)})

    async def get_schedule(request: Request) -> Response:
        mailbox(request)
        body = {key[:1].lower() + key[1:]: value for key, value in (await request.json()).items()}  # camel or Pascal
        schedules, minutes = body.get("schedules", []), int(body.get("availabilityViewInterval", 30))
        try:
            start, end = utc_time(body["startTime"]), utc_time(body["endTime"])
        except (KeyError, TypeError, ValueError, ZoneInfoNotFoundError):
            raise GraphApiError(400, "ErrorInvalidRequest", "startTime and endTime are required dateTimeTimeZone values.") from None
        if not 1 <= len(schedules) <= MAX_SCHEDULES or not start < end < start + MAX_SCHEDULE_SPAN or not 5 <= minutes <= 1440:
            raise GraphApiError(400, "ErrorInvalidParameter",
                                "Up to 20 schedules, a period shorter than 62 days and an interval of 5 to 1440 minutes.")
        zone = _preferred_zone(request)
        value = []
        for schedule in schedules:
            if not state.knows(schedule):
                value.append({"scheduleId": schedule, "availabilityView": "", "scheduleItems": [],
                              "error": {"message": "Unable to resolve the mailbox.", "responseCode": "ErrorMailRecipientNotFound"}})
                continue
            items = state.schedule_items(schedule, start, end)
            value.append({
                "scheduleId": schedule,
                "availabilityView": availability_view(items, start, end, minutes),
                "scheduleItems": [{"isPrivate": False, "status": status, "subject": subject,
                                   "start": utc_form(s, zone), "end": utc_form(e, zone)} for status, s, e, subject in items],
                "workingHours": {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                                 "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000", "timeZone": {"name": "UTC"}},
            })
        return JSONResponse({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)",
                             "value": value}, headers=_preference_applied(zone))

    async def create(request: Request) -> Response:
        owner = mailbox(request)
        event = state.create_event(owner, await request.json())
        return _event_response(event, _preferred_zone(request), status_code=201)

    async def one_event(request: Request) -> Response:
        owner, event_id = mailbox(request), request.path_params["event_id"]
        if request.method == "GET":
            return _event_response(state.get_event(owner, event_id), _preferred_zone(request))
        if request.method == "PATCH":
            return _event_response(state.update_event(owner, event_id, await request.json()), _preferred_zone(request))
        state.delete_event(owner, event_id)
        return Response(status_code=204)

    async def calendar_view(request: Request) -> Response:
        """GET calendarView: the live events overlapping [startDateTime, endDateTime), by start,
        ``$top`` per page (default 10) with an ``@odata.nextLink`` to the next; ``$select`` honoured."""
        owner, params = mailbox(request), request.query_params
        try:
            start, end = _instant(params["startDateTime"]), _instant(params["endDateTime"])
            top, skip = int(params.get("$top", 10)), int(params.get("$skip", 0))
        except (KeyError, ValueError):
            raise GraphApiError(400, "ErrorInvalidParameter", "This request requires a time window specified by the "
                                "query string parameters StartDateTime and EndDateTime.") from None
        events = state.calendar_view(owner, start, end)
        zone, fields = _preferred_zone(request), params.get("$select")
        value = []
        for event in events[skip:skip + top]:
            for field in ("start", "end"):
                event[field] = utc_form(utc_time(event[field]), zone)
            if fields:
                event = {k: v for k, v in event.items() if k in {"id", "@odata.etag", *fields.split(",")}}
            value.append(event)
        body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('me')/calendarView",
                                "value": value}
        if skip + top < len(events):
            body["@odata.nextLink"] = str(request.url.include_query_params(**{"$skip": skip + top}))
        return JSONResponse(body, headers=_preference_applied(zone))

    async def cancel(request: Request) -> Response:
        state.cancel_event(mailbox(request), request.path_params["event_id"])
        return Response(status_code=202)

    async def inspect(request: Request) -> Response:
        return JSONResponse({
            "events": state.events, "notifications": state.notifications, "token_requests": state.token_requests,
            "busy": {m: [{"start": s.isoformat(), "end": e.isoformat()} for s, e in blocks] for m, blocks in state.busy.items()},
            "faults": [attrs.asdict(fault) for fault in state.faults],
        })

    async def add_busy(request: Request) -> Response:
        body = await request.json()
        state.add_busy(body["mailbox"], _instant(body["start"]), _instant(body["end"]))
        return Response(status_code=204)

    async def revoke(request: Request) -> Response:
        body = await request.json()
        state.revoke(refresh_token=body.get("refresh_token"), user=body.get("user"), error=body.get("error", "invalid_grant"))
        return Response(status_code=204)

    routes = [
        Route("/{tenant}/oauth2/v2.0/token", api(token), methods=["POST"]),
        Route("/{tenant}/oauth2/v2.0/authorize", sign_in, methods=["GET", "POST"]),
        Route("/_sandbox", inspect, methods=["GET"]),
        Route("/_sandbox/faults", sandbox.fault_endpoint(state), methods=["POST"]),
        Route("/_sandbox/busy", add_busy, methods=["POST"]),
        Route("/_sandbox/revoke", revoke, methods=["POST"]),
    ]
    routes.append(Route("/v1.0/me", api(me), methods=["GET"]))
    for prefix in ("/v1.0/me", "/v1.0/users/{user}"):
        routes += [
            Route(f"{prefix}/calendar/getSchedule", api(get_schedule), methods=["POST"]),
            Route(f"{prefix}/events", api(create), methods=["POST"]),
            Route(f"{prefix}/calendarView", api(calendar_view), methods=["GET"]),
            Route(f"{prefix}/events/{{event_id}}", api(one_event), methods=["GET", "PATCH", "DELETE"]),
            Route(f"{prefix}/events/{{event_id}}/cancel", api(cancel), methods=["POST"]),
        ]
    app = Starlette(routes=routes)
    app.state.sandbox = state
    return app


def plugin_config(url: str, state: GraphSandboxState | None = None) -> dict[str, Any]:
    """The ``plugins: outlook`` settings that point chinwag at a sandbox served at ``url``."""
    state = state or GraphSandboxState()
    url = url.rstrip("/")
    return {"base_url": f"{url}/v1.0", "token_url": f"{url}/common/oauth2/v2.0/token",
            "auth_url": f"{url}/common/oauth2/v2.0/authorize", "client_id": state.client_id,
            "client_secret": state.client_secret}


def serve_in_thread(host: str = "127.0.0.1", port: int = 0,
                    state: GraphSandboxState | None = None) -> SandboxServer[GraphSandboxState]:
    """Serve a sandbox on ``host:port`` (0: any free port) in a daemon thread; return once it listens."""
    state = state or GraphSandboxState()
    return sandbox.serve_in_thread(create_sandbox(state), state, plugin_config, host, port, label="Microsoft sandbox")


def _fault_response(fault: Fault) -> Response:
    code, message = FAULT_ERRORS.get(fault.status, ("generalException", "An error occurred."))
    return JSONResponse(GraphApiError(fault.status, code, message).body(), status_code=fault.status, headers=fault.headers())


def _event_response(event: dict[str, Any], zone: str, status_code: int = 200) -> Response:
    for field in ("start", "end"):
        event[field] = utc_form(utc_time(event[field]), zone)
    return JSONResponse(event, status_code=status_code, headers=_preference_applied(zone))


def _preferred_zone(request: Request) -> str:
    """The zone of ``Prefer: outlook.timezone="..."`` when it is UTC or an IANA name, else UTC."""
    match = PREFERRED_ZONE.search(request.headers.get("Prefer", ""))
    if not match or match.group(1).upper() == "UTC":
        return "UTC"
    try:
        ZoneInfo(match.group(1))
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return match.group(1)


def _preference_applied(zone: str) -> dict[str, str]:
    return {"Preference-Applied": f'outlook.timezone="{zone}"'}


def _instant(text: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(text))
    return moment.replace(tzinfo=moment.tzinfo or dt.timezone.utc).astimezone(dt.timezone.utc)


def main() -> None:
    """Serve the sandbox in the foreground for a demo."""
    sandbox.serve_in_foreground(create_sandbox(), plugin_config, label="Microsoft sandbox", port=8702,
                                description="A local stand-in for Microsoft's sign-in and Graph calendar servers")


if __name__ == "__main__":
    main()

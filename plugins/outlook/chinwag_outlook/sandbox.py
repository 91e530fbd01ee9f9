"""A local stand-in for Microsoft's sign-in (Entra) and Graph calendar servers, for tests and the demo.

It speaks the documented request and response shapes (token endpoint with rotating refresh
tokens, sign-in page, getSchedule, events create/get/patch/cancel/delete, Graph's and Entra's
error bodies) and keeps everything in memory. ``/_sandbox`` routes let a person or a test look
inside and inject faults.

Run it alone: ``python -m chinwag_outlook.sandbox --port 8702``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .sandbox_state import (
    FAULT_ERRORS, GraphApiError, GraphSandboxState, availability_view, token_error, utc_form, utc_time,
)

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_SCHEDULES = 20
MAX_SCHEDULE_SPAN = dt.timedelta(days=62)
PREFERRED_ZONE = re.compile(r'outlook\.timezone="([^"]+)"')


def create_sandbox(state: GraphSandboxState | None = None) -> Starlette:
    """The sandbox ASGI app; its state is ``app.state.sandbox`` (a ``GraphSandboxState``)."""
    state = state or GraphSandboxState()

    def api(endpoint: Endpoint) -> Endpoint:
        """Apply injected faults, then answer Graph errors in Graph's shape."""

        async def guarded(request: Request) -> Response:
            fault = state.take_fault(request.method, request.url.path)
            if fault and not fault.after_processing:
                return _fault_response(fault.status, fault.retry_after)
            try:
                response = await endpoint(request)
            except GraphApiError as error:
                response = JSONResponse(error.body(), status_code=error.status)
            return _fault_response(fault.status, fault.retry_after) if fault else response

        return guarded

    def mailbox(request: Request) -> str:
        """The mailbox of the path (``/me`` or ``/users/{id}``), which must be the caller's own."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        owner = state.user_of(token) if scheme.lower() == "bearer" else None
        if owner is None:
            raise GraphApiError(401, *FAULT_ERRORS[401])
        wanted = request.path_params.get("user", owner).lower()
        if wanted != owner:
            raise GraphApiError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        return owner

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        client_id, client_secret = _client_credentials(request, form)
        if (client_id, client_secret) != (state.client_id, state.client_secret):
            return JSONResponse(token_error("invalid_client"), 401)
        grant_type = form.get("grant_type", "")
        state.token_requests.append(grant_type)
        if grant_type == "authorization_code":
            tokens = state.redeem_code(form.get("code", ""), form.get("redirect_uri", ""))
            return JSONResponse(tokens) if tokens else JSONResponse(token_error("bad_code"), 400)
        if grant_type == "refresh_token":
            answer = state.refresh(form.get("refresh_token", ""))
            return JSONResponse(token_error(answer), 400) if isinstance(answer, str) else JSONResponse(answer)
        return JSONResponse({**token_error("bad_code"), "error": "unsupported_grant_type"}, 400)

    async def sign_in(request: Request) -> Response:
        if request.method == "GET":
            params = dict(request.query_params)
            if params.get("client_id") != state.client_id or params.get("response_type") != "code":
                return HTMLResponse("<h1>Sign in</h1><p>AADSTS700016: Application not found in the directory.</p>", 400)
            return HTMLResponse(_sign_in_page(params))
        form = dict(parse_qsl((await request.body()).decode()))
        answer: dict[str, str] = {"state": form.get("state", "")}
        if form.get("decision") == "allow" and form.get("email"):
            answer["code"] = state.issue_code(form["email"], form.get("redirect_uri", ""))
        else:
            answer.update(error="access_denied", error_description="The user has denied access to the scope requested by the client application.")
        return RedirectResponse(f"{form.get('redirect_uri', '')}?{urlencode(answer)}", status_code=303)

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

    async def cancel(request: Request) -> Response:
        state.cancel_event(mailbox(request), request.path_params["event_id"])
        return Response(status_code=202)

    async def inspect(request: Request) -> Response:
        return JSONResponse({
            "events": state.events, "notifications": state.notifications, "token_requests": state.token_requests,
            "busy": {m: [{"start": s.isoformat(), "end": e.isoformat()} for s, e in blocks] for m, blocks in state.busy.items()},
            "faults": [attrs.asdict(fault) for fault in state.faults],
        })

    async def add_fault(request: Request) -> Response:
        options = await request.json()
        fault = state.fail_next(int(options.pop("status")), int(options.pop("times", 1)), **options)
        return JSONResponse(attrs.asdict(fault), 201)

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
        Route("/_sandbox/faults", add_fault, methods=["POST"]),
        Route("/_sandbox/busy", add_busy, methods=["POST"]),
        Route("/_sandbox/revoke", revoke, methods=["POST"]),
    ]
    for prefix in ("/v1.0/me", "/v1.0/users/{user}"):
        routes += [
            Route(f"{prefix}/calendar/getSchedule", api(get_schedule), methods=["POST"]),
            Route(f"{prefix}/events", api(create), methods=["POST"]),
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


@attrs.define
class SandboxServer:
    """A sandbox served by uvicorn on a background thread; ``stop()`` ends it."""

    url: str
    state: GraphSandboxState
    _server: uvicorn.Server
    _thread: threading.Thread

    def plugin_config(self) -> dict[str, Any]:
        """The plugin settings that point chinwag at this server."""
        return plugin_config(self.url, self.state)

    def stop(self) -> None:
        """Ask the server to finish and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)


def serve_in_thread(host: str = "127.0.0.1", port: int = 0, state: GraphSandboxState | None = None) -> SandboxServer:
    """Serve a sandbox on ``host:port`` (0: any free port) in a daemon thread; return once it listens."""
    state = state or GraphSandboxState()
    listener = socket.create_server((host, port))
    bound_host, bound_port = listener.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(create_sandbox(state), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="outlook-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the Microsoft sandbox did not start on {host}:{port}")
        time.sleep(0.01)
    return SandboxServer(f"http://{bound_host}:{bound_port}", state, server, thread)


def _fault_response(status: int, retry_after: str | None) -> Response:
    code, message = FAULT_ERRORS.get(status, ("generalException", "An error occurred."))
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(GraphApiError(status, code, message).body(), status_code=status, headers=headers)


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


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """The secret in the form or in HTTP Basic: Entra accepts both."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        return client_id, client_secret
    return form.get("client_id"), form.get("client_secret")


def _sign_in_page(params: dict[str, str]) -> str:
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in params.items() if k in ("redirect_uri", "state", "scope"))
    email = html.escape(params.get("login_hint", "agent@example.com"))
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params.get("scope", "").split())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Sign in to your account (sandbox)</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">
<h1>Microsoft sandbox</h1><p>chinwag wants these permissions:</p><ul>{scopes}</ul>
<form method="post">{hidden}<label>Mailbox <input name="email" type="email" value="{email}" required></label>
<p><button name="decision" value="allow">Accept</button> <button name="decision" value="deny">Cancel</button></p></form>
</body></html>"""


def _instant(text: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(text))
    return moment.replace(tzinfo=moment.tzinfo or dt.timezone.utc).astimezone(dt.timezone.utc)


def main() -> None:
    """Serve the sandbox in the foreground for a demo."""
    parser = argparse.ArgumentParser(description="A local stand-in for Microsoft's sign-in and Graph calendar servers")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8702)
    options = parser.parse_args()
    print(f"Microsoft sandbox on http://{options.host}:{options.port}; plugin settings: "
          f"{plugin_config(f'http://{options.host}:{options.port}')}")
    uvicorn.run(create_sandbox(), host=options.host, port=options.port, log_level="warning")


if __name__ == "__main__":
    main()

"""A local stand-in for Google's OAuth and Calendar v3 servers, for tests and the offline demo.

It speaks the documented request and response shapes (token endpoint, consent page, freeBusy,
events insert/get/patch/delete, Google's error bodies) and keeps everything in memory.
``/_sandbox`` routes let a person or a test look inside and inject faults.

Run it alone: ``python -m chinwag_google_calendar.sandbox --port 8701``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import attrs
from chinwag import sandbox
from chinwag.sandbox import SandboxServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from .sandbox_state import Fault, GoogleApiError, GoogleSandboxState

__all__ = ["SandboxServer", "create_sandbox", "main", "plugin_config", "serve_in_thread"]


def new_state() -> GoogleSandboxState:
    """A fresh sandbox: no accounts, events or faults yet."""
    return GoogleSandboxState()


def create_sandbox(state: GoogleSandboxState | None = None) -> Starlette:
    """The sandbox ASGI app; its state is ``app.state.sandbox`` (a ``GoogleSandboxState``)."""
    state = state or GoogleSandboxState()

    # Apply injected faults, then answer Google API errors in Google's shape.
    api = sandbox.fault_guard(state, _fault_response, GoogleApiError,
                              lambda error: JSONResponse(error.body(), status_code=error.code))

    def user(request: Request) -> str:
        owner = sandbox.bearer_user(request, state)
        if owner is None:
            raise GoogleApiError(401, "authError", ("header", "Authorization"))
        return owner

    def calendar(request: Request) -> str:
        """The path's calendar, which must be the caller's own ("primary" or their address)."""
        owner, wanted = user(request), request.path_params["calendar_id"].lower()
        if wanted not in ("primary", owner):
            raise GoogleApiError(404, "notFound")
        return owner

    async def token(request: Request) -> Response:
        form = await sandbox.token_form(request, state)
        if form is None:
            return JSONResponse({"error": "invalid_client", "error_description": "The OAuth client was not found."}, 401)
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            tokens = state.redeem_code(form.get("code", ""), form.get("redirect_uri", ""))
            error = "Bad Request"
        elif grant_type == "refresh_token":
            tokens = state.refresh(form.get("refresh_token", ""))
            error = "Token has been expired or revoked."
        else:
            return JSONResponse({"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant_type}"}, 400)
        if tokens is None:
            return JSONResponse({"error": "invalid_grant", "error_description": error}, 400)
        return JSONResponse(tokens)

    async def consent(request: Request) -> Response:
        if request.method == "GET":
            params = dict(request.query_params)
            if not sandbox.is_authorization_request(params, state):
                return HTMLResponse("<h1>Error 401: invalid_client</h1><p>The OAuth client was not found.</p>", 401)
            return HTMLResponse(sandbox.consent_page(
                params, title="Sign in - Google Accounts (sandbox)", heading="Google sandbox",
                asks="chinwag wants to access your Google Account:", owner_label="Calendar owner", allow_label="Allow"))
        form = await sandbox.read_form(request)
        answer: dict[str, str] = {"state": form.get("state", "")}
        if form.get("decision") == "allow" and form.get("email"):
            answer.update(code=state.issue_code(form["email"], form.get("redirect_uri", ""), form.get("scope", "")),
                          scope=form.get("scope", ""))
        else:
            answer["error"] = "access_denied"
        return sandbox.redirect_to_client(form, answer)

    async def free_busy(request: Request) -> Response:
        owner, body = user(request), await request.json()
        start, end = _instant(body.get("timeMin")), _instant(body.get("timeMax"))
        if start is None or end is None or end <= start:
            raise GoogleApiError(400, "timeRangeEmpty", ("parameter", "timeMax"))
        calendars: dict[str, Any] = {}
        for item in body.get("items", []):
            wanted = owner if item.get("id", "").lower() == "primary" else item.get("id", "")
            if state.knows(wanted):
                calendars[item["id"]] = {"busy": [{"start": _z(s), "end": _z(e)} for s, e in state.free_busy(wanted, start, end)]}
            else:
                calendars[item.get("id", "")] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
        return JSONResponse({"kind": "calendar#freeBusy", "timeMin": _z(start), "timeMax": _z(end), "groups": {},
                             "calendars": calendars})

    async def userinfo(request: Request) -> Response:
        """OpenID Connect userinfo: ``sub``, and ``email`` with ``email_verified`` under the email scope."""
        owner = sandbox.bearer_user(request, state)
        if owner is None:
            return JSONResponse({"error": "invalid_request", "error_description": "Invalid Credentials"}, 401)
        info: dict[str, Any] = {"sub": str(int(hashlib.sha256(owner.encode()).hexdigest()[:17], 16))}
        if state.has_scope(owner, "email"):
            info.update(email=owner, email_verified=owner not in state.unverified)
        return JSONResponse(info)

    async def insert(request: Request) -> Response:
        owner, body = calendar(request), await request.json()
        conference = request.query_params.get("conferenceDataVersion") == "1"
        event = state.insert_event(owner, body, request.query_params.get("sendUpdates", "none"), conference)
        return JSONResponse(event)

    async def one_event(request: Request) -> Response:
        owner, event_id = calendar(request), request.path_params["event_id"]
        send_updates = request.query_params.get("sendUpdates", "none")
        if request.method == "GET":
            return JSONResponse(state.get_event(owner, event_id))
        if request.method == "PATCH":
            return JSONResponse(state.patch_event(owner, event_id, await request.json(), send_updates))
        state.delete_event(owner, event_id, send_updates)
        return Response(status_code=204)

    async def inspect(request: Request) -> Response:
        return JSONResponse({
            "events": state.events, "notifications": state.notifications, "token_requests": state.token_requests,
            "busy": {c: [{"start": _z(s), "end": _z(e)} for s, e in blocks] for c, blocks in state.busy.items()},
            "faults": [attrs.asdict(fault) for fault in state.faults],
        })

    async def add_busy(request: Request) -> Response:
        body = await request.json()
        state.add_busy(body["calendar"], _instant(body["start"]), _instant(body["end"]))
        return Response(status_code=204)

    async def revoke(request: Request) -> Response:
        body = await request.json()
        state.revoke(refresh_token=body.get("refresh_token"), user=body.get("user"))
        return Response(status_code=204)

    app = Starlette(routes=[
        Route("/token", api(token), methods=["POST"]),
        Route("/o/oauth2/v2/auth", consent, methods=["GET", "POST"]),
        Route("/v1/userinfo", api(userinfo), methods=["GET"]),
        Route("/calendar/v3/freeBusy", api(free_busy), methods=["POST"]),
        Route("/calendar/v3/calendars/{calendar_id}/events", api(insert), methods=["POST"]),
        Route("/calendar/v3/calendars/{calendar_id}/events/{event_id}", api(one_event), methods=["GET", "PATCH", "DELETE"]),
        Route("/_sandbox", inspect, methods=["GET"]),
        Route("/_sandbox/faults", sandbox.fault_endpoint(state), methods=["POST"]),
        Route("/_sandbox/busy", add_busy, methods=["POST"]),
        Route("/_sandbox/revoke", revoke, methods=["POST"]),
    ])
    app.state.sandbox = state
    return app


def plugin_config(url: str, state: GoogleSandboxState | None = None) -> dict[str, Any]:
    """The ``plugins: google_calendar`` settings that point chinwag at a sandbox served at ``url``."""
    state = state or GoogleSandboxState()
    url = url.rstrip("/")
    return {"base_url": f"{url}/calendar/v3", "token_url": f"{url}/token", "auth_url": f"{url}/o/oauth2/v2/auth",
            "userinfo_url": f"{url}/v1/userinfo", "client_id": state.client_id, "client_secret": state.client_secret}


def serve_in_thread(host: str = "127.0.0.1", port: int = 0,
                    state: GoogleSandboxState | None = None) -> SandboxServer[GoogleSandboxState]:
    """Serve a sandbox on ``host:port`` (0: any free port) in a daemon thread; return once it listens."""
    state = state or GoogleSandboxState()
    return sandbox.serve_in_thread(create_sandbox(state), state, plugin_config, host, port, label="Google sandbox")


def _fault_response(fault: Fault) -> Response:
    return JSONResponse(GoogleApiError(fault.status, fault.reason).body(), status_code=fault.status, headers=fault.headers())


def _instant(text: Any) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment.replace(tzinfo=moment.tzinfo or dt.timezone.utc).astimezone(dt.timezone.utc)


def _z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    """Serve the sandbox in the foreground for a demo."""
    sandbox.serve_in_foreground(create_sandbox(), plugin_config, label="Google sandbox", port=8701,
                                description="A local stand-in for Google Calendar's servers")


if __name__ == "__main__":
    main()

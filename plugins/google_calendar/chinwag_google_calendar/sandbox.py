"""A local stand-in for Google's OAuth and Calendar v3 servers, for tests and the offline demo.

It speaks the documented request and response shapes (token endpoint, consent page, freeBusy,
events insert/get/patch/delete, Google's error bodies) and keeps everything in memory.
``/_sandbox`` routes let a person or a test look inside and inject faults.

Run it alone: ``python -m chinwag_google_calendar.sandbox --port 8701``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import attrs
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .sandbox_state import GoogleApiError, GoogleSandboxState

Endpoint = Callable[[Request], Awaitable[Response]]


def create_sandbox(state: GoogleSandboxState | None = None) -> Starlette:
    """The sandbox ASGI app; its state is ``app.state.sandbox`` (a ``GoogleSandboxState``)."""
    state = state or GoogleSandboxState()

    def api(endpoint: Endpoint) -> Endpoint:
        """Apply injected faults, then answer Google API errors in Google's shape."""

        async def guarded(request: Request) -> Response:
            fault = state.take_fault(request.method, request.url.path)
            if fault and not fault.after_processing:
                return _fault_response(fault.status, fault.reason, fault.retry_after)
            try:
                response = await endpoint(request)
            except GoogleApiError as error:
                response = JSONResponse(error.body(), status_code=error.code)
            return _fault_response(fault.status, fault.reason, fault.retry_after) if fault else response

        return guarded

    def user(request: Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        owner = state.user_of(token) if scheme.lower() == "bearer" else None
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
        form = dict(parse_qsl((await request.body()).decode()))
        client_id, client_secret = _client_credentials(request, form)
        if (client_id, client_secret) != (state.client_id, state.client_secret):
            return JSONResponse({"error": "invalid_client", "error_description": "The OAuth client was not found."}, 401)
        grant_type = form.get("grant_type", "")
        state.token_requests.append(grant_type)
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
            if params.get("client_id") != state.client_id or params.get("response_type") != "code":
                return HTMLResponse("<h1>Error 401: invalid_client</h1><p>The OAuth client was not found.</p>", 401)
            return HTMLResponse(_consent_page(params))
        form = dict(parse_qsl((await request.body()).decode()))
        answer: dict[str, str] = {"state": form.get("state", "")}
        if form.get("decision") == "allow" and form.get("email"):
            answer.update(code=state.issue_code(form["email"], form.get("redirect_uri", "")), scope=form.get("scope", ""))
        else:
            answer["error"] = "access_denied"
        return RedirectResponse(f"{form.get('redirect_uri', '')}?{urlencode(answer)}", status_code=303)

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

    async def add_fault(request: Request) -> Response:
        options = await request.json()
        fault = state.fail_next(int(options.pop("status")), int(options.pop("times", 1)), **options)
        return JSONResponse(attrs.asdict(fault), 201)

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
        Route("/calendar/v3/freeBusy", api(free_busy), methods=["POST"]),
        Route("/calendar/v3/calendars/{calendar_id}/events", api(insert), methods=["POST"]),
        Route("/calendar/v3/calendars/{calendar_id}/events/{event_id}", api(one_event), methods=["GET", "PATCH", "DELETE"]),
        Route("/_sandbox", inspect, methods=["GET"]),
        Route("/_sandbox/faults", add_fault, methods=["POST"]),
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
            "client_id": state.client_id, "client_secret": state.client_secret}


@attrs.define
class SandboxServer:
    """A sandbox served by uvicorn on a background thread; ``stop()`` ends it."""

    url: str
    state: GoogleSandboxState
    _server: uvicorn.Server
    _thread: threading.Thread

    def plugin_config(self) -> dict[str, Any]:
        """The plugin settings that point chinwag at this server."""
        return plugin_config(self.url, self.state)

    def stop(self) -> None:
        """Ask the server to finish and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)


def serve_in_thread(host: str = "127.0.0.1", port: int = 0, state: GoogleSandboxState | None = None) -> SandboxServer:
    """Serve a sandbox on ``host:port`` (0: any free port) in a daemon thread; return once it listens."""
    state = state or GoogleSandboxState()
    listener = socket.create_server((host, port))
    bound_host, bound_port = listener.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(create_sandbox(state), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="google-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the Google sandbox did not start on {host}:{port}")
        time.sleep(0.01)
    return SandboxServer(f"http://{bound_host}:{bound_port}", state, server, thread)


def _fault_response(status: int, reason: str | None, retry_after: str | None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(GoogleApiError(status, reason).body(), status_code=status, headers=headers)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """client_secret_post or client_secret_basic: Google accepts both."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        return client_id, client_secret
    return form.get("client_id"), form.get("client_secret")


def _consent_page(params: dict[str, str]) -> str:
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in params.items() if k in ("redirect_uri", "state", "scope"))
    email = html.escape(params.get("login_hint", "agent@example.com"))
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params.get("scope", "").split())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Sign in - Google Accounts (sandbox)</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">
<h1>Google sandbox</h1><p>chinwag wants to access your Google Account:</p><ul>{scopes}</ul>
<form method="post">{hidden}<label>Calendar owner <input name="email" type="email" value="{email}" required></label>
<p><button name="decision" value="allow">Allow</button> <button name="decision" value="deny">Cancel</button></p></form>
</body></html>"""


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
    parser = argparse.ArgumentParser(description="A local stand-in for Google Calendar's servers")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8701)
    options = parser.parse_args()
    print(f"Google sandbox on http://{options.host}:{options.port}; plugin settings: "
          f"{plugin_config(f'http://{options.host}:{options.port}')}")
    uvicorn.run(create_sandbox(), host=options.host, port=options.port, log_level="warning")


if __name__ == "__main__":
    main()

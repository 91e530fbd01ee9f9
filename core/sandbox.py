"""Building blocks for a plugin's sandbox: a local stand-in for a vendor's OAuth and API servers.

A provider plugin (calendar, CRM...) ships a sandbox so its tests and the offline demo run without
the vendor. The vendor's routes, data and error shapes stay in the plugin; this module holds what
every sandbox does the same way:

* ``SandboxState``: the OAuth client, codes and tokens, and injected ``Fault``s (errors, lost
  replies, slow answers), kept in memory.
* HTTP helpers: ``fault_guard`` (answer injected faults), ``fault_endpoint`` (``POST /_sandbox/faults``),
  ``token_form``, ``bearer_user``, ``consent_page`` and ``redirect_to_client``.
* ``serve_in_thread`` (a ``SandboxServer`` on a loopback port, stopped by ``stop()`` or at the end
  of a ``with``) and ``serve_in_foreground`` (a demo from the command line).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import html
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode

import attrs
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp

Endpoint = Callable[[Request], Awaitable[Response]]


@attrs.define
class Fault:
    """An error to answer instead of (or after) doing the work, for the next ``remaining`` matching calls.

    Status 0 is no error: the work is done and answered as usual, ``delay`` seconds late (a slow
    vendor, to make two clients' calls overlap).
    """

    status: int
    remaining: int = 1
    path: str | None = None  # substring of the URL path; None matches every API and token call
    method: str | None = None
    retry_after: str | None = None
    after_processing: bool = False  # do the work, then fail: the client never sees the success
    # Seconds to hold the answer after doing the work (with after_processing): a client's timeout
    # fires, or, with status 0, another client's call overlaps this one.
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        return (self.path is None or self.path in path) and (self.method is None or self.method == method.upper())

    def headers(self) -> dict[str, str] | None:
        """The HTTP headers to answer with: ``Retry-After`` when the fault has one."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None


@attrs.define
class SandboxState:
    """What every sandbox remembers: one OAuth client, its codes and tokens, and faults to inject.

    Subclasses add the vendor's data and answer ``issue_tokens`` in the vendor's shape.
    """

    fault_class: ClassVar[type[Fault]] = Fault
    code_prefix: ClassVar[str] = "sandbox-"
    access_token_prefix: ClassVar[str] = "sandbox-"

    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    access_token_lifetime: int = 3600
    codes: dict[str, tuple[str, str]] = attrs.field(factory=dict)  # code -> (user, redirect_uri)
    refresh_tokens: dict[str, str] = attrs.field(factory=dict)  # refresh token -> user
    access_tokens: dict[str, tuple[str, float]] = attrs.field(factory=dict)  # token -> (user, expires_at)
    token_requests: list[str] = attrs.field(factory=list)  # grant_type of each token call, in order
    granted_scopes: dict[str, set[str]] = attrs.field(factory=dict)  # user -> scopes they consented to
    faults: list[Fault] = attrs.field(factory=list)

    # -- OAuth -------------------------------------------------------------------------------------

    def issue_code(self, user: str, redirect_uri: str, scope: str = "") -> str:
        """An authorization code for ``user``, as the consent page hands out once they allowed ``scope``."""
        code = self.code_prefix + secrets.token_urlsafe(24)
        self.codes[code] = (user.lower(), redirect_uri)
        self.granted_scopes.setdefault(user.lower(), set()).update(scope.split())
        return code

    def has_scope(self, user: str, scope: str) -> bool:
        """Whether ``user`` consented to ``scope`` (the vendor then lets the app read what it covers)."""
        return scope in self.granted_scopes.get(user.lower(), set())

    def redeem_code(self, code: str, redirect_uri: str) -> dict[str, Any] | None:
        """Tokens for a code (single use, redirect URI must match), or None."""
        user, expected_uri = self.codes.pop(code, (None, None))
        if user is None or expected_uri != redirect_uri:
            return None
        return self.issue_tokens(user)

    def issue_tokens(self, user: str) -> dict[str, Any]:
        """A fresh refresh and access token for ``user``: the token endpoint's answer, in the vendor's shape."""
        raise NotImplementedError

    def new_access_token(self, user: str) -> str:
        """An access token for ``user`` that works for ``access_token_lifetime`` seconds."""
        token = self.access_token_prefix + secrets.token_urlsafe(24)
        self.access_tokens[token] = (user.lower(), time.time() + self.access_token_lifetime)
        return token

    def stored_tokens(self, user: str) -> dict[str, Any]:
        """Fresh tokens for ``user`` as chinwag stores them once the user connected: ``access_token``,
        ``refresh_token`` and ``expires_at`` (a Unix time)."""
        issued = self.issue_tokens(user)
        return {"access_token": issued["access_token"], "refresh_token": issued["refresh_token"],
                "expires_at": time.time() + issued["expires_in"]}

    def user_of(self, access_token: str) -> str | None:
        """The user an unexpired access token belongs to."""
        user, expires_at = self.access_tokens.get(access_token, (None, 0.0))
        return user if expires_at > time.time() else None

    def expire_access_tokens(self) -> None:
        """Make every issued access token invalid, so the next API call gets 401."""
        self.access_tokens.clear()

    # -- faults ------------------------------------------------------------------------------------

    def fail_next(self, status: int, times: int = 1, **options: Any) -> Fault:
        """Answer ``status`` to the next ``times`` matching calls (options: see ``Fault``)."""
        fault = self.fault_class(status, times, **options)
        self.faults.append(fault)
        return fault

    def slow_next(self, seconds: float, times: int = 1, **options: Any) -> Fault:
        """Do the work of the next ``times`` matching calls at once but answer ``seconds`` late."""
        return self.fail_next(0, times, delay=seconds, after_processing=True, **options)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault matching a request, counted down (and dropped when used up)."""
        for fault in self.faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None


State = TypeVar("State", bound=SandboxState)


# -- HTTP ------------------------------------------------------------------------------------------

def fault_guard(state: SandboxState, fault_response: Callable[[Fault], Response], api_error: type[Exception],
                error_response: Callable[[Any], Response]) -> Callable[[Endpoint], Endpoint]:
    """A decorator for API endpoints: answer injected faults, and ``api_error``s with ``error_response``."""

    def api(endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            fault = state.take_fault(request.method, request.url.path)
            if fault and fault.status and not fault.after_processing:
                return fault_response(fault)
            try:
                response = await endpoint(request)
            except api_error as error:
                response = error_response(error)
            if fault and fault.delay:
                await asyncio.sleep(fault.delay)
            return fault_response(fault) if fault and fault.status else response

        return guarded

    return api


def fault_endpoint(state: SandboxState) -> Endpoint:
    """``POST /_sandbox/faults`` with ``{"status", "times", ...Fault options}``: inject a fault."""

    async def add_fault(request: Request) -> Response:
        options = await request.json()
        fault = state.fail_next(int(options.pop("status")), int(options.pop("times", 1)), **options)
        return JSONResponse(attrs.asdict(fault), 201)

    return add_fault


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a form-encoded body."""
    return dict(parse_qsl((await request.body()).decode()))


async def token_form(request: Request, state: SandboxState) -> dict[str, str] | None:
    """A token call's form, its grant type recorded in ``state.token_requests``; None for a wrong client.

    The client authenticates with its secret in the form or with HTTP Basic (client_secret_post or
    client_secret_basic), as OAuth servers commonly accept.
    """
    form = await read_form(request)
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
    else:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    if (client_id, client_secret) != (state.client_id, state.client_secret):
        return None
    state.token_requests.append(form.get("grant_type", ""))
    return form


def bearer_user(request: Request, state: SandboxState) -> str | None:
    """The user of the request's unexpired ``Authorization: Bearer`` token, if any."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return state.user_of(token) if scheme.lower() == "bearer" else None


def is_authorization_request(params: Mapping[str, str], state: SandboxState) -> bool:
    """Whether a consent page's query asks for a code for the sandbox's own client."""
    return params.get("client_id") == state.client_id and params.get("response_type") == "code"


def consent_page(params: Mapping[str, str], *, title: str, heading: str, asks: str, owner_label: str,
                 allow_label: str) -> str:
    """The HTML consent form: the user types whose account it is and allows or cancels.

    It posts back ``email``, ``decision`` (allow or deny) and the request's redirect URI, state and scope.
    """
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in params.items() if k in ("redirect_uri", "state", "scope"))
    email = html.escape(params.get("login_hint", "agent@example.com"))
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params.get("scope", "").split())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">
<h1>{heading}</h1><p>{asks}</p><ul>{scopes}</ul>
<form method="post">{hidden}<label>{owner_label} <input name="email" type="email" value="{email}" required></label>
<p><button name="decision" value="allow">{allow_label}</button> <button name="decision" value="deny">Cancel</button></p></form>
</body></html>"""


def redirect_to_client(form: Mapping[str, str], answer: Mapping[str, str]) -> Response:
    """Send the browser back to the client's redirect URI with ``answer`` in the query."""
    return RedirectResponse(f"{form.get('redirect_uri', '')}?{urlencode(answer)}", status_code=303)


# -- serving ---------------------------------------------------------------------------------------

@attrs.define
class SandboxServer(Generic[State]):
    """A sandbox served by uvicorn on a background thread; ``stop()`` ends it."""

    url: str
    state: State
    _server: uvicorn.Server
    _thread: threading.Thread
    _plugin_config: Callable[[str, State], dict[str, Any]]

    def plugin_config(self) -> dict[str, Any]:
        """The plugin settings that point chinwag at this server."""
        return self._plugin_config(self.url, self.state)

    def stop(self) -> None:
        """Ask the server to finish and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer[State]:
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()


def serve_in_thread(app: ASGIApp, state: State, plugin_config: Callable[[str, State], dict[str, Any]],
                    host: str = "127.0.0.1", port: int = 0, label: str = "sandbox") -> SandboxServer[State]:
    """Serve ``app`` on ``host:port`` (0: any free port) in a daemon thread; return once it listens.

    ``plugin_config(url, state)`` gives the plugin settings pointing at it; ``label`` names it in
    errors ("the Google sandbox did not start...").
    """
    listener = socket.create_server((host, port))
    bound_host, bound_port = listener.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread_name = label.lower().replace(" ", "-")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name=thread_name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {label} did not start on {host}:{port}")
        time.sleep(0.01)
    return SandboxServer(f"http://{bound_host}:{bound_port}", state, server, thread, plugin_config)


def serve_in_foreground(app: ASGIApp, plugin_config: Callable[[str], dict[str, Any]], *, label: str,
                        description: str, port: int) -> None:
    """A sandbox's command line: ``--host`` and ``--port`` (default ``port``), then serve until stopped."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    options = parser.parse_args()
    url = f"http://{options.host}:{options.port}"
    print(f"{label} on {url}; plugin settings: {plugin_config(url)}")
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning")

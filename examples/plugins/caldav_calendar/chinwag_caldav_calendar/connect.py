"""Connecting an agent: the form ``chinwag agents connect --provider caldav`` links to.

CalDAV servers take a username and an (app) password rather than OAuth, so chinwag serves the
consent step itself: ``GET /caldav/connect`` shows a form, ``POST`` checks the credentials
against the server and sends the agent on to chinwag's callback with a short-lived code, the
credentials sealed with chinwag's key (``CHINWAG_SECRET_KEY``), which ``exchange_code`` opens.
The callback stores them encrypted, as it stores every provider's tokens.
"""

from __future__ import annotations

import asyncio
import html
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from chinwag.calendars import CalendarError, GrantRevoked
from chinwag.credentials import Credentials, CredentialsUnreadable
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

CODE_LIFETIME = 600  # seconds between the form and the callback
CALLBACK = "/-/oauth/caldav/callback"


def seal_code(username: str, password: str) -> str:
    """The credentials as a code only this deployment can open."""
    return Credentials.from_environment().encrypt({"username": username, "password": password, "sealed_at": time.time()})


def open_code(code: str) -> dict[str, Any]:
    """The credentials of a code from ``seal_code``; ``CalendarError`` when forged or stale."""
    try:
        sealed = Credentials.from_environment().decrypt(code)
    except CredentialsUnreadable as error:
        raise CalendarError("the connection code is not one this server made") from error
    if time.time() - float(sealed.get("sealed_at", 0)) > CODE_LIFETIME:
        raise CalendarError("the connection code expired: run chinwag agents connect again")
    return {"username": sealed["username"], "password": sealed["password"]}


def _form(state: str, redirect_uri: str, server: str, message: str = "", status: int = 200,
          username: str = "") -> Response:
    notice = f"<p role=alert>{html.escape(message)}</p>" if message else ""
    body = (f"<!doctype html><meta charset=utf-8><title>Connect your calendar</title>"
            f"<h1>Connect your CalDAV calendar</h1><p>Server: {html.escape(server)}</p>{notice}"
            f"<form method=post><input type=hidden name=state value=\"{html.escape(state)}\">"
            f"<input type=hidden name=redirect_uri value=\"{html.escape(redirect_uri)}\">"
            f"<label>Username <input name=username value=\"{html.escape(username)}\" autocomplete=username required>"
            f"</label>"
            f"<label>App password <input name=password type=password autocomplete=current-password required></label>"
            f"<button>Connect</button></form>")
    return HTMLResponse(body, status_code=status)


def connect_routes(provider_of: Any) -> list[Route]:
    """``/caldav/connect``; ``provider_of(app)`` is the registered provider (None if unconfigured)."""

    async def connect(request: Request) -> Response:
        app = request.app.state.chinwag
        provider = provider_of(app)
        if provider is None:
            return HTMLResponse("CalDAV is not configured on this server.", status_code=404)
        fields = ({key: values[0] for key, values in parse_qs((await request.body()).decode()).items()}
                  if request.method == "POST" else dict(request.query_params))
        state, redirect_uri = fields.get("state", ""), fields.get("redirect_uri", "")
        if not state or redirect_uri != f"{app.config.public_url}{CALLBACK}":
            return HTMLResponse("This link is not one chinwag agents connect made.", status_code=400)
        if request.method == "GET":
            return _form(state, redirect_uri, provider.url, username=fields.get("login_hint", ""))
        username, password = fields.get("username", "").strip(), fields.get("password", "")
        if not username or not password:
            return _form(state, redirect_uri, provider.url, "Give your username and app password.", 400)
        try:
            await asyncio.to_thread(provider.check_login, username, password)
        except GrantRevoked:
            return _form(state, redirect_uri, provider.url, "The server refused that username or password.", 401)
        except CalendarError as error:
            return _form(state, redirect_uri, provider.url, f"The server could not be reached: {error}", 502)
        return RedirectResponse(f"{redirect_uri}?{urlencode({'code': seal_code(username, password), 'state': state})}",
                                status_code=303)

    return [Route("/caldav/connect", connect, methods=["GET", "POST"])]

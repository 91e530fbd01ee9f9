"""Signing in and out, accepting an invite, and the console's front door."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from chinwag.abuse_limits import client_address
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .console import console_of
from .login_limits import clear_failures, record_failure, wait_before_login
from .passwords import WeakPassword
from .sessions import LOGIN_CSRF_COOKIE, LIFETIME, csrf_matches, end_session, set_cookie, signed_in, start_session
from .users import UserError, accept_invite, authenticate, invited_user


async def front_door(request: Request) -> Response:
    """``/-/console/``: the user's first section, or the sign-in page."""
    console = console_of(request)
    who = await signed_in(console.app, console.signer, request)
    return RedirectResponse(console.home(who) if who else f"{console.prefix}/login", status_code=303)


def _safe_next(console_prefix: str, target: str | None) -> str | None:
    """``next`` only when it is a path inside the console (never another site)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(console_prefix + "/") or "\\" in target:
        return None
    return target


async def login(request: Request) -> Response:
    """GET: the sign-in form; POST: check the password (rate-limited) and start a session."""
    console = console_of(request)
    app = console.app
    if request.method == "GET":
        who = await signed_in(app, console.signer, request)
        if who is not None:
            return RedirectResponse(console.home(who), status_code=303)
        return _login_form(request, next_path=request.query_params.get("next", ""))
    form = await request.form()
    token = console.signer.read(request.cookies.get(LOGIN_CSRF_COOKIE), LIFETIME)
    if token is None or not csrf_matches(token, form.get("csrf")):
        return _login_form(request, error="The sign-in form expired. Please try again.", status=403)
    email, password = str(form.get("email", ""))[:320], str(form.get("password", ""))
    next_path = str(form.get("next", ""))
    address = client_address(request.headers, request.client.host if request.client else None, app.config.limits)
    wait = await wait_before_login(app, email, address)
    if wait is not None:
        return _login_form(request, email, next_path, f"Too many failed sign-ins. Try again in {wait} minute(s).", 429)
    user = await authenticate(app, email, password)
    if user is None:
        await record_failure(app, email, address)
        return _login_form(request, email, next_path, "That email and password do not match an active user.", 401)
    await clear_failures(app, email)
    who_home = _safe_next(console.prefix, next_path)
    response = RedirectResponse(who_home or console.prefix + "/", status_code=303)
    await start_session(app, console.signer, request, response, user)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=console.prefix)
    return response


def _login_form(request: Request, email: str = "", next_path: str = "", error: str | None = None,
                status: int = 200) -> Response:
    """The sign-in page with a fresh pre-session CSRF token (a signed cookie and a hidden field)."""
    console = console_of(request)
    token = secrets.token_urlsafe(32)
    response = console.render(request, "login.html", None, status=status, login_csrf=token, email=email,
                              next_path=next_path, error=error)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, console.signer.sign(token), LIFETIME)
    return response


async def logout(request: Request) -> Response:
    """POST: end the session (CSRF-checked), back to the sign-in page."""
    console = console_of(request)
    who = await signed_in(console.app, console.signer, request)
    response = RedirectResponse(f"{console.prefix}/login", status_code=303)
    if who is not None:
        form = await request.form()
        if not csrf_matches(who.csrf, form.get("csrf")):
            return console.message(request, who, "Form expired", "Reload the page and try again.", 403)
        await end_session(console.app, who.session_id, response)
    return response


async def accept(request: Request) -> Response:
    """``/-/console/invite/{token}``: an invited user chooses a password, then is signed in."""
    console = console_of(request)
    app = console.app
    token = request.path_params["token"]
    user = await invited_user(app, token) if len(token) <= 100 else None
    if user is None:
        return console.message(request, None, "Invite link expired",
                               "This invite link is unknown, used or expired. Ask an admin for a new one.", 404)
    error = None
    if request.method == "POST":
        form = await request.form()
        signed = console.signer.read(request.cookies.get(LOGIN_CSRF_COOKIE), LIFETIME)
        password, again = str(form.get("password", "")), str(form.get("again", ""))
        if signed is None or not csrf_matches(signed, form.get("csrf")):
            error = "The form expired. Please try again."
        elif password != again:
            error = "The two passwords differ."
        else:
            try:
                user = await accept_invite(app, token, password)
            except (WeakPassword, UserError) as refused:
                error = str(refused)
            else:
                response = RedirectResponse(console.prefix + "/", status_code=303)
                await start_session(app, console.signer, request, response, user)
                return response
    csrf = secrets.token_urlsafe(32)
    response = console.render(request, "invite.html", None, status=400 if error else 200, invited=user,
                              login_csrf=csrf, error=error)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, console.signer.sign(csrf), LIFETIME)
    return response


def auth_routes(prefix: str) -> list[Route]:
    """The routes anyone may open: the front door, sign-in and out, invites."""
    return [Route(prefix, front_door), Route(prefix + "/", front_door),
            Route(prefix + "/login", login, methods=["GET", "POST"]),
            Route(prefix + "/logout", logout, methods=["POST"]),
            Route(prefix + "/invite/{token}", accept, methods=["GET", "POST"])]


"""Where calendar providers send an agent back after consent: ``/-/oauth/{provider}/callback``.

One route serves every registered provider. ``chinwag agents connect`` records a single-use
random ``state`` (``chinwag.meetings.agent_state.start_connect``) in the database, so the callback works
on any server process and a forged or replayed callback connects nobody.

The grant is kept only when the account that consented (the provider's ``account_emails``) is
the agent's own, or the agent's ``calendar_owner``: consent given while signed in as somebody
else is refused with a page saying so, and the agent's connection stays as it was.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .agent_state import store_tokens, take_connect_request
from .settings import meeting_settings
from ..calendars import CalendarError
from ..links import AGENT, page_url
from ..credentials import CredentialsKeyMissing

log = logging.getLogger("chinwag.meetings.oauth")


async def oauth_callback(request: Request) -> Response:
    """Trade the authorization code for tokens and put the agent in the routing queue."""
    app = request.app.state.chinwag
    provider_name = request.path_params["provider"]
    provider = app.calendar_providers.get(provider_name)
    params = request.query_params
    if provider is None:
        return _page("Unknown calendar provider", f"No calendar provider {provider_name!r} is installed.", 404)
    if params.get("error"):
        return _page("Calendar not connected", f"The provider said: {params.get('error_description') or params['error']}.", 400)
    connect = await take_connect_request(app, params.get("state", ""))
    if connect is None or connect.provider != provider_name or not params.get("code"):
        return _page("Link expired", "This connection link is unknown, used or expired. Run chinwag agents connect again.", 400)
    agent = meeting_settings(app).agents.get(connect.agent_email)
    if agent is None:
        return _page("Calendar not connected", f"{connect.agent_email} is no longer listed under agents: in chinwag.yaml.", 400)
    back = await page_url(app, AGENT, connect.agent_email)  # the agent's page, where a plugin serves one
    try:
        tokens = await app.metrics.calendar(provider_name, "exchange_code",
                                            provider.exchange_code(app, params["code"], connect.redirect_uri))
        accounts = await app.metrics.calendar(provider_name, "account_emails", provider.account_emails(app, tokens))
        if agent.calendar_owner not in accounts:
            log.warning("refused %s's calendar grant: consent came from %s, not %s",
                        connect.agent_email, ", ".join(accounts) or "an unknown account", agent.calendar_owner)
            return _page("Wrong account", _wrong_account(agent.email, agent.calendar_owner, accounts), 403, back)
        await store_tokens(app, connect.agent_email, provider_name, tokens)
    except (CalendarError, CredentialsKeyMissing) as error:
        log.warning("connecting %s's calendar failed: %s", connect.agent_email, error)
        return _page("Calendar not connected", str(error), 502, back)
    log.info("agent %s connected their %s calendar", connect.agent_email, provider_name)
    return _page("Calendar connected", f"{connect.agent_email} is now in the meeting queue. You can close this page.",
                 back=back)


def _wrong_account(agent: str, expected: str, accounts: list[str]) -> str:
    """Why a grant was refused, and what to do instead."""
    signed_in = " / ".join(accounts) or "an account with no address"
    owner = "" if expected == agent else " (its calendar_owner in chinwag.yaml)"
    return (f"You allowed access while signed in as {signed_in}, but this link connects {agent}'s calendar, "
            f"which only {expected}{owner} can allow. Nothing was connected. Sign in as {expected} (sign out of "
            f"{signed_in} first, or pick {expected} in the account chooser) and open a new link from "
            f"chinwag agents connect {agent}.")


def _page(title: str, message: str, status: int = 200, back: str | None = None) -> Response:
    """A plain page; ``back`` (the agent's page a plugin serves, ``page_url``) adds a link to it."""
    link = f'<p><a href="{html.escape(back, quote=True)}">Back to your calendar settings</a></p>' if back else ""
    body = (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{link}")
    return HTMLResponse(body, status_code=status)


def oauth_routes() -> list[Any]:
    """The callback route for every provider."""
    return [Route("/-/oauth/{provider}/callback", oauth_callback)]

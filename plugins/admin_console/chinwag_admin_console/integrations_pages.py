"""Integrations: the installed plugins and their status, the outbox per consumer (pending, held,
dead, skipped with the remote's reasons; retry, resume) and each CRM connector's sync, as the
connector's plugin tells it (``crm_sync_status``, any CRM plugin) or core records it."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chinwag.crm import SyncStatus
from chinwag.crm_records import sync_state
from chinwag.outbox import STATES, list_items, requeue, resume, summary
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from . import audit
from .access import console_route
from .console import console_of
from .sessions import SignedIn

ITEMS_SHOWN = 100


async def crm_statuses(app: Any) -> list[SyncStatus]:
    """Every CRM connector's sync: its plugin's word where it gives one, else core's record of pulls."""
    told: dict[str, SyncStatus] = {}
    for _, statuses in await app.plugins.acall("crm_sync_status", app=app):
        for status in statuses or []:
            if isinstance(status, SyncStatus):
                told[status.connector] = status
    for connector in app.crm_connectors:
        if connector.name in told:
            continue
        stored = await sync_state(app.store, connector.name)
        if stored is None:
            told[connector.name] = SyncStatus(connector.name, "not_started", "Nothing has been pulled yet.")
        elif stored["last_error"]:
            told[connector.name] = SyncStatus(connector.name, "failing", "The last pull failed.", {
                "Last error": stored["last_error"], "Records stored": str(stored["rows"])})
        else:
            told[connector.name] = SyncStatus(connector.name, "ok", "Pulled.", {
                "Records stored": str(stored["rows"]), "Last pull": stored["updated_at"]})
    return [told[name] for name in sorted(told)]


@console_route("integrations")
async def integrations_page(request: Request, who: SignedIn) -> Response:
    """Plugins, outbox consumers and items, CRM syncs."""
    console = console_of(request)
    app = console.app
    params = request.query_params
    state = params.get("state") or "dead"
    state = state if state in STATES else "dead"
    consumer = params.get("consumer") or None
    consumers = await summary(app.store)
    if consumer not in consumers:
        consumer = None
    items = [item.listing() for item in await list_items(app.store, consumer, state, ITEMS_SHOWN)]
    notice = params.get("done")
    return console.render(request, "integrations.html", who, plugins=app.plugins.listing(), consumers=consumers,
                          items=items, state=state, consumer=consumer, states=STATES,
                          crm=await crm_statuses(app), notice=notice if notice and len(notice) < 200 else None)


@console_route("integrations")
async def outbox_action(request: Request, who: SignedIn) -> Response:
    """POST ``action``: retry one item (``item``), retry a consumer's dead items, or resume a paused consumer."""
    console = console_of(request)
    app = console.app
    form = request.state.form
    action, consumer = form.get("action"), str(form.get("consumer") or "") or None
    try:
        if action == "retry-item":
            item = int(str(form.get("item", "")))
            count = await requeue(app.store, [item])
            done = f"{count} item(s) queued again."
            subject = f"outbox item {item}"
        elif action == "retry-dead":
            count = await requeue(app.store, dead=True, consumer=consumer)
            done, subject = f"{count} dead item(s) of {consumer or 'every consumer'} queued again.", consumer or "outbox"
        elif action == "resume" and consumer:
            resumed = await resume(app.store, consumer)
            done = f"{consumer} resumed." if resumed else f"{consumer} was not paused."
            subject = consumer
        else:
            return console.message(request, who, "Unknown action", "Retry an item, retry the dead, or resume.", 400)
    except ValueError as error:
        return console.message(request, who, "Cannot do that", str(error), 400)
    await audit.record_now(app, who.user.email, f"outbox.{action}", subject, {"result": done})
    return RedirectResponse(f"{console.prefix}/integrations?done={quote(done)}", status_code=303)


def integration_routes(prefix: str) -> list[Route]:
    """The integrations page and its outbox actions."""
    return [Route(prefix + "/integrations", integrations_page),
            Route(prefix + "/integrations/outbox", outbox_action, methods=["POST"])]

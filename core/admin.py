"""The admin API: read-only JSON for operators, behind a Bearer token."""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .reports import dialogue_report, period_from

Handler = Callable[[Request], Awaitable[Response]]
MAX_REPORT_DAYS = 3650


def admin_only(handler: Handler) -> Handler:
    """Refuse the request unless it carries ``Authorization: Bearer <admin_token>``, or a token a
    plugin vouches for (``admin_api_principal``: the admin console's user tokens).

    With no ``admin_token`` configured every admin endpoint is closed to all but such tokens. Plugins that add admin
    routes through ``register_routes`` wrap their handlers with this too.
    """

    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        chinwag = request.app.state.chinwag
        refusal = admin_refusal(request, chinwag.config.admin_token)
        if refusal is not None and await plugin_principal(request, chinwag) is None:
            return refusal
        return await handler(request)

    return guarded


async def plugin_principal(request: Request, chinwag: Any) -> str | None:
    """The principal a plugin names for the request's Bearer token (``admin_api_principal``), kept
    as ``request.state.admin_principal``; None when there is no token or no plugin knows it."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return None
    for _, principal in await chinwag.plugins.acall("admin_api_principal", token=given, request=request, app=chinwag):
        if isinstance(principal, str) and principal:
            request.state.admin_principal = principal
            return principal
    return None


def admin_refusal(request: Request, token: str | None) -> Response | None:
    """The answer to a request that lacks ``Authorization: Bearer <token>``, or None when it has it.

    With no ``token`` configured the answer is always a refusal (403): the endpoint is closed.
    """
    if not token:
        return JSONResponse({"error": "the admin API is closed: set admin_token in chinwag.yaml"}, status_code=403)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), token.encode()):
        return JSONResponse({"error": "a valid admin token is required"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})
    return None


@admin_only
async def config_json(request: Request) -> Response:
    """The project configuration, secrets redacted."""
    return JSONResponse(request.app.state.chinwag.config.redacted())


@admin_only
async def report_json(request: Request) -> Response:
    """How each dialogue performs (``chinwag report``): ``?dialogue=ID&since=DATE&until=DATE``, or
    ``?days=N`` (default 90) up to ``until`` or now."""
    query = request.query_params
    unknown = set(query) - {"days", "since", "until", "dialogue"}
    if unknown:
        return JSONResponse({"error": f"unknown parameter {sorted(unknown)[0]!r} (known: days, since, until, "
                                      "dialogue)"}, status_code=400)
    days = query.get("days", "90")
    # isdigit alone accepts "²" and other digits int() refuses; the upper bound keeps the date in range.
    if not (days.isascii() and days.isdigit()) or not 1 <= int(days) <= MAX_REPORT_DAYS:
        return JSONResponse({"error": f"days must be a whole number from 1 to {MAX_REPORT_DAYS}"}, status_code=400)
    try:
        period = period_from(query.get("since"), query.get("until"), int(days), query.get("dialogue"))
    except ValueError as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    return JSONResponse(await dialogue_report(request.app.state.chinwag, period))


@admin_only
async def forget_json(request: Request) -> Response:
    """``POST {"email": ...}``: remove everything stored about that person (``chinwag forget``);
    answers what went, or 400 for a body that names no email, 500 when a plugin failed (nothing
    was forgotten then)."""
    from .forget import ForgetFailed, forget_person, normalised_email

    try:
        body = await request.json()
        email = normalised_email(body["email"] if isinstance(body, dict) else None)  # type: ignore[arg-type]
    except (ValueError, KeyError, TypeError) as error:
        return JSONResponse({"error": f'send {{"email": "..."}}: {error}'}, status_code=400)
    try:
        return JSONResponse({"email": email, "removed": await forget_person(request.app.state.chinwag, email)})
    except ForgetFailed as error:
        return JSONResponse({"error": str(error)}, status_code=500)


@admin_only
async def session_json(request: Request) -> Response:
    """One conversation, as the agent's e-mail links it: its dialogue, status, page, answers,
    the visitor's lead and the transcript in order (404 when it is gone: purged or forgotten)."""
    found = await conversation(request.app.state.chinwag, request.path_params["id"])
    if found is None:
        return JSONResponse({"error": "no such session (it may have been purged or forgotten)"}, status_code=404)
    return JSONResponse(found)


async def conversation(app: Any, session_id: str) -> dict[str, Any] | None:
    """One conversation: dialogue, version, status, page, answers, the visitor's lead and the
    transcript frames in order; None when there is no such session (purged, forgotten, made up).

    The frames are stored as sent: visitor text in them is plain text, to be escaped by whoever
    shows it (the admin console renders it with autoescaping)."""
    import sqlalchemy as sa

    from .store import utc
    from .tables import sessions, transcript, visitors

    if not 0 < len(session_id) <= 40:
        return None
    async with app.store.connect() as connection:
        row = (await connection.execute(sa.select(sessions, visitors.c.lead).join(
            visitors, visitors.c.id == sessions.c.visitor_id).where(sessions.c.id == session_id))).first()
        if row is None:
            return None
        frames = (await connection.execute(sa.select(transcript.c.frame, transcript.c.created_at).where(
            transcript.c.session_id == session_id).order_by(transcript.c.id))).all()
    return {
        "session": session_id, "visitor": row.visitor_id, "dialogue": row.dialogue_id,
        "version": row.dialogue_version, "status": row.status, "page_url": row.page_url,
        "started_at": utc(row.created_at).isoformat(), "answers": (row.state or {}).get("answers", {}),  # type: ignore[union-attr]
        "lead": row.lead, "transcript": [{"at": utc(at).isoformat(), **frame} for frame, at in frames]}  # type: ignore[union-attr]


async def recent_conversations(app: Any, dialogue_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The dialogue's newest conversations (by last activity): session id, status, version, page,
    when started and last active, and whether the visitor had given an email."""
    import sqlalchemy as sa

    from .store import utc
    from .tables import sessions, visitors

    query = (sa.select(sessions.c.id, sessions.c.status, sessions.c.dialogue_version, sessions.c.page_url,
                       sessions.c.created_at, sessions.c.updated_at, visitors.c.lead)
             .join(visitors, visitors.c.id == sessions.c.visitor_id)
             .where(sessions.c.dialogue_id == dialogue_id).order_by(sessions.c.updated_at.desc()).limit(limit))
    async with app.store.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [{"session": row.id, "status": row.status, "version": row.dialogue_version, "page_url": row.page_url,
             "started_at": utc(row.created_at).isoformat(), "active_at": utc(row.updated_at).isoformat(),  # type: ignore[union-attr]
             "email": (row.lead or {}).get("lead.email") or (row.lead or {}).get("person.email")} for row in rows]


@admin_only
async def outbox_json(request: Request) -> Response:
    """Each outbox consumer's counts, pause and backoff, and the newest items with their reasons
    (``?consumer=``, ``?state=pending|delivered|skipped|dead``, ``?limit=`` up to 1000)."""
    from .outbox import STATES, list_items, summary

    params = request.query_params
    unknown = sorted(set(params) - {"consumer", "state", "limit"})
    if unknown:
        return JSONResponse({"error": f"unknown parameter(s): {', '.join(unknown)}"}, status_code=400)
    state = params.get("state")
    if state is not None and state not in STATES:
        return JSONResponse({"error": f"state must be one of {', '.join(STATES)}"}, status_code=400)
    limit_text = params.get("limit", "100")
    if not (limit_text.isascii() and limit_text.isdigit()) or not 1 <= int(limit_text) <= 1000:
        return JSONResponse({"error": "limit must be a whole number from 1 to 1000"}, status_code=400)
    consumer = params.get("consumer") or None
    if consumer is not None and len(consumer) > 200:
        return JSONResponse({"error": "consumer is longer than 200 characters"}, status_code=400)
    store = request.app.state.chinwag.store
    items = await list_items(store, consumer, state, int(limit_text))
    return JSONResponse({"consumers": await summary(store), "items": [item.listing() for item in items]})


@admin_only
async def dialogues_json(request: Request) -> Response:
    """Every dialogue with its status (published, unpublished, draft) and versions
    (``chinwag dialogues list``)."""
    states = await request.app.state.chinwag.publisher.states()
    return JSONResponse({"dialogues": [state.listing() for state in states]})


@admin_only
async def publish_json(request: Request) -> Response:
    """``POST`` (body optional: ``{"version": N, "by": "who"}``): publish the dialogue, its newest
    version by default; 404 for an unknown dialogue, 400 for a bad body or version."""
    from .publishing import PublishingError

    body = await _optional_body(request)
    if isinstance(body, Response):
        return body
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        return JSONResponse({"error": "version must be a whole number, at least 1"}, status_code=400)
    dialogue_id = request.path_params["id"]
    try:
        publication = await request.app.state.chinwag.publisher.publish(dialogue_id, version, _by(body))
    except PublishingError as error:
        known = dialogue_id in {state.id for state in await request.app.state.chinwag.publisher.states()}
        return JSONResponse({"error": str(error)}, status_code=400 if known else 404)
    return JSONResponse(publication.listing())


@admin_only
async def unpublish_json(request: Request) -> Response:
    """``POST`` (body optional: ``{"by": "who"}``): stop showing the dialogue to visitors who have
    not engaged with it; 404 when it is not published."""
    from .publishing import PublishingError

    body = await _optional_body(request)
    if isinstance(body, Response):
        return body
    try:
        publication = await request.app.state.chinwag.publisher.unpublish(request.path_params["id"], _by(body))
    except PublishingError as error:
        return JSONResponse({"error": str(error)}, status_code=404)
    return JSONResponse(publication.listing())


async def _optional_body(request: Request) -> dict[str, Any] | Response:
    """The request's JSON object body ({} when empty), or a 400 answer naming what is wrong."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
    if not isinstance(body, dict) or set(body) - {"version", "by"}:
        return JSONResponse({"error": "the body may only have version and by"}, status_code=400)
    return body


def _by(body: dict[str, Any]) -> str:
    who = body.get("by")
    return f"admin API ({who[:100]})" if isinstance(who, str) and who.strip() else "admin API"


@admin_only
async def metrics_text(request: Request) -> Response:
    """The Prometheus metrics (``chinwag.metrics``), in the text exposition format; a scraper sends
    the admin token as a bearer token (or reads ``chinwag serve --metrics-address`` instead)."""
    from .metrics import CONTENT_TYPE

    app = request.app.state.chinwag
    if len(app.outbox_consumers):
        try:  # read now, so a scrape here is never a refresh period behind
            await app.metrics.refresh_outbox(app.store, app.outbox_consumers.names())
        except Exception:  # the database is away: the gauges keep their last values
            pass
    return Response(app.metrics.exposition(), media_type=CONTENT_TYPE)


def admin_routes() -> list[Any]:
    """The core's admin routes."""
    return [Route("/-/metrics", metrics_text),
            Route("/-/admin/config.json", config_json), Route("/-/admin/report.json", report_json),
            Route("/-/admin/outbox.json", outbox_json), Route("/-/admin/forget.json", forget_json, methods=["POST"]),
            Route("/-/admin/sessions/{id}.json", session_json), Route("/-/admin/dialogues.json", dialogues_json),
            Route("/-/admin/dialogues/{id}/publish.json", publish_json, methods=["POST"]),
            Route("/-/admin/dialogues/{id}/unpublish.json", unpublish_json, methods=["POST"])]

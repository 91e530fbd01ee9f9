"""A local stand-in for Marketo's identity, REST and Bulk Extract APIs, for tests and the offline demo.

It speaks the documented shapes (the identity token, the ``requestId``/``success``/``errors``
envelope with string codes, record-level ``reasons``), enforces Marketo's limits (606, 607, 615)
and keeps everything in memory. ``/_sandbox`` routes let a person or a test look inside and inject
faults; the README lists them.

Run it alone: ``python -m chinwag_marketo.sandbox --port 8703``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from chinwag import sandbox
from chinwag.sandbox import SandboxServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from .sandbox_activities import CHANGE_DATA_VALUE, MAX_BATCH
from .sandbox_bulk import ExportJob
from .sandbox_limits import MarketoError
from .sandbox_state import DEFAULT_ACTIVITY_FIELDS, DEFAULT_LEAD_FIELDS, Fault, MarketoSandboxState

__all__ = ["SandboxServer", "create_sandbox", "main", "new_state", "plugin_config", "serve_in_thread"]

Endpoint = Callable[[Request], Awaitable[Response]]
DEFAULT_PORT = 8703


def new_state() -> MarketoSandboxState:
    """A fresh sandbox: no leads, one program ("Website chat", id 1001), default limits, no faults."""
    return MarketoSandboxState()


def create_sandbox(state: MarketoSandboxState | None = None) -> Starlette:
    """The sandbox ASGI app; its state is ``app.state.sandbox`` (a ``MarketoSandboxState``)."""
    state = state or new_state()
    guard = sandbox.fault_guard(state, _fault_response, MarketoError, _error_response)

    def api(endpoint: Endpoint) -> Endpoint:
        """Log the call, answer injected faults, then check the token and the limits around ``endpoint``."""
        limited = guard(_limited(endpoint))

        async def logged(request: Request) -> Response:
            request.state.call = state.limits.log(request.method, request.url.path)
            return await limited(request)

        return logged

    def _limited(endpoint: Endpoint) -> Endpoint:
        async def run(request: Request) -> Response:
            state.check_token(_access_token(request, state))
            state.limits.admit(request.state.call)
            try:
                if state.limits.request_delay:
                    await asyncio.sleep(state.limits.request_delay)
                return await endpoint(request)
            finally:
                state.limits.release()

        return run

    # -- identity ----------------------------------------------------------------------------------

    async def identity(request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(await sandbox.read_form(request))
        if not state.check_client(params.get("client_id", ""), params.get("client_secret", "")):
            # The 401 body is not documented; an OAuth-style body like client libraries report.
            return JSONResponse({"error": "invalid_client", "error_description": "Bad client credentials"}, 401)
        if params.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": f"Unsupported grant type: {params.get('grant_type')}"}, 400)
        state.token_requests.append("client_credentials")
        return JSONResponse(state.issue_token())

    async def identity_guarded(request: Request) -> Response:
        fault = state.take_identity_fault(request.method, request.url.path)
        return _fault_response(fault) if fault else await identity(request)

    # -- leads -------------------------------------------------------------------------------------

    async def leads(request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            return _ok(state.sync_leads(body.get("action", "createOrUpdate"), body.get("lookupField", "email"),
                                        _input(body)))
        query = request.query_params
        if not query.get("filterType") or not query.get("filterValues"):
            raise MarketoError("701", "filterType and filterValues cannot be blank")
        fields = _csv(query.get("fields")) or DEFAULT_LEAD_FIELDS
        found = state.find_leads(query["filterType"], _csv(query["filterValues"]))
        return _ok([{field: lead.get(field) for field in fields} for lead in found])

    async def describe(request: Request) -> Response:
        return _ok(state.describe_leads())

    async def delete(request: Request) -> Response:
        body = await _json(request)
        ids = [record.get("id") for record in _input(body)] or _csv(request.query_params.get("id"))
        return _ok(state.delete_leads(ids))

    # -- activities --------------------------------------------------------------------------------

    async def activity_types(request: Request) -> Response:
        return _ok(list(state.activity_log.types.values()))

    async def create_type(request: Request) -> Response:
        return _ok([state.activity_log.create_type(await _json(request))])

    async def approve_type(request: Request) -> Response:
        return _ok([state.activity_log.approve_type(request.path_params["api_name"])])

    async def add_attributes(request: Request) -> Response:
        body = await _json(request)
        # The developer docs' example sends "attributes"; the Swagger model names it "attribute".
        attributes = body.get("attributes") or body.get("attribute") or []
        if not attributes:
            raise MarketoError("701", "attributes cannot be blank")
        return _ok([state.activity_log.add_attributes(request.path_params["api_name"], attributes)])

    async def add_activities(request: Request) -> Response:
        return _ok(state.activity_log.add_custom(_input(await _json(request)), lambda lead_id: lead_id in state.leads))

    async def paging_token(request: Request) -> Response:
        since = request.query_params.get("sinceDatetime")
        if not since:
            raise MarketoError("701", "sinceDatetime cannot be blank")
        return _ok(None, nextPageToken=state.activity_log.paging_token(since))

    async def activities(request: Request) -> Response:
        query = request.query_params
        token, type_ids = query.get("nextPageToken"), _csv(query.get("activityTypeIds"))
        if not token or not type_ids:
            raise MarketoError("701", "nextPageToken and activityTypeIds cannot be blank")
        page, more, next_token = state.activity_log.page(token, _ints(type_ids), _ints(_csv(query.get("leadIds"))),
                                                         _batch_size(query.get("batchSize")))
        return _ok([_without(a, "fields") for a in page], moreResult=more, nextPageToken=next_token)

    async def lead_changes(request: Request) -> Response:
        query = request.query_params
        token, fields = query.get("nextPageToken"), set(_csv(query.get("fields")))
        if not token or not fields:
            raise MarketoError("701", "nextPageToken and fields cannot be blank")
        page, more, next_token = state.activity_log.page(token, [CHANGE_DATA_VALUE], _ints(_csv(query.get("leadIds"))),
                                                         _batch_size(query.get("batchSize")))
        # A page may come back short (even empty) with moreResult true, as Marketo's may.
        changes = [_without(a, "primaryAttributeValue") for a in page if a["fields"][0]["name"] in fields]
        return _ok(changes, moreResult=more, nextPageToken=next_token)

    # -- programs ----------------------------------------------------------------------------------

    async def member_status(request: Request) -> Response:
        body = await _json(request)
        if not body.get("statusName"):
            raise MarketoError("701", "statusName cannot be blank")
        return _ok(state.set_member_status(_program_id(request), body["statusName"], _input(body)))

    async def members(request: Request) -> Response:
        query = request.query_params
        return _ok(state.members(_program_id(request), query.get("filterType"), _csv(query.get("filterValues"))))

    # -- bulk extract ------------------------------------------------------------------------------

    async def export_create(request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in ("leads", "activities"):
            # program members and custom objects exist in Marketo's bulk API, not in the sandbox
            raise MarketoError("610", "Requested resource not found")
        defaults = DEFAULT_LEAD_FIELDS if kind == "leads" else DEFAULT_ACTIVITY_FIELDS
        return _ok([state.bulk.create(kind, await _json(request), defaults).describe()])

    async def export_enqueue(request: Request) -> Response:
        return _ok([state.bulk.enqueue(_export_id(request)).describe()])

    async def export_status(request: Request) -> Response:
        return _ok([_job(request).describe()])

    async def export_cancel(request: Request) -> Response:
        return _ok([state.bulk.cancel(_export_id(request)).describe()])

    async def export_list(request: Request) -> Response:
        wanted = set(_csv(request.query_params.get("status")))
        state.bulk.tick()
        jobs = [job.describe() for job in state.bulk.jobs.values()
                if job.kind == request.path_params["kind"] and (not wanted or job.status in wanted)]
        return _ok(jobs)

    async def export_file(request: Request) -> Response:
        job = _job(request)
        if job.status != "Completed" or job.file_size is None:
            return PlainTextResponse("File not ready", 404)
        wanted = _byte_range(request.headers.get("Range"), job.file_size)
        if wanted is None:
            return StreamingResponse(job.chunks(), media_type="text/csv",
                                     headers={"Content-Length": str(job.file_size), "Accept-Ranges": "bytes"})
        start, end = wanted
        if start >= job.file_size or start > end:
            return PlainTextResponse("Range not satisfiable", 416, headers={"Content-Range": f"bytes */{job.file_size}"})
        return StreamingResponse(job.byte_range(start, end), 206, media_type="text/csv",
                                 headers={"Content-Range": f"bytes {start}-{end}/{job.file_size}",
                                          "Content-Length": str(end - start + 1), "Accept-Ranges": "bytes"})

    def _job(request: Request) -> ExportJob:
        job = state.bulk.job(_export_id(request))
        if job.kind != request.path_params["kind"]:
            raise MarketoError("1003", f"Export id {job.export_id} not found")
        return job

    # -- looking inside and steering ---------------------------------------------------------------

    async def inspect(request: Request) -> Response:
        state.bulk.tick()
        limits = state.limits
        return JSONResponse({
            "leads": len(state.leads), "activities": len(state.activity_log.activities),
            "activity_types": list(state.activity_log.types.values()),
            "programs": {p.id: {"name": p.name, "statuses": p.statuses, "members": len(p.members)}
                         for p in state.programs.values()},
            "limits": {"rate_limit": limits.rate_limit, "rate_window": limits.rate_window,
                       "concurrency_limit": limits.concurrency_limit, "daily_quota": limits.daily_quota,
                       "calls_today": limits.calls_today, "in_flight": limits.in_flight,
                       "peak_rate": limits.peak_rate(), "calls": len(limits.calls)},
            "bulk": {"exported_bytes_today": state.bulk.exported_bytes_today,
                     "jobs": [job.describe() for job in state.bulk.jobs.values()]},
            "refused_emails": {email: list(reason) for email, reason in state.refused_emails.items()},
            "faults": [attrs.asdict(fault) for fault in state.faults],
        })

    async def set_limits(request: Request) -> Response:
        body = await request.json()
        for name in ("rate_limit", "rate_window", "concurrency_limit", "daily_quota", "request_delay"):
            if name in body:
                setattr(state.limits, name, type(getattr(state.limits, name))(body[name]))
        for name in ("step_seconds", "complete_immediately", "daily_export_quota"):
            if name in body:
                setattr(state.bulk, name, body[name])
        return Response(status_code=204)

    async def steer(request: Request) -> Response:
        action = request.path_params["action"]
        body = await request.json() if (await request.body()) else {}
        if action == "reset-day":
            state.reset_day()
        elif action == "expire-tokens":
            state.expire_access_tokens()
        elif action == "advance-exports":
            state.bulk.advance()
        elif action == "seed":
            return JSONResponse({"ids": [lead["id"] for lead in state.seed_leads(int(body.get("count", 100)))]}, 201)
        elif action == "refuse":
            state.refuse_email(body["email"], str(body.get("code", "1003")), body.get("message", "Lead refused"))
        elif action == "cookie":
            state.cookies[body["cookie"]] = int(body["leadId"])
        elif action == "program":
            state.add_program(int(body["id"]), body["name"], body["statuses"])
        else:
            return JSONResponse({"error": f"unknown action {action}"}, 404)
        return Response(status_code=204)

    rest = "/rest/v1"
    bulk = "/bulk/v1/{kind:str}/export"
    app = Starlette(routes=[
        Route("/identity/oauth/token", identity_guarded, methods=["GET", "POST"]),
        Route(f"{rest}/leads.json", api(leads), methods=["GET", "POST"]),
        Route(f"{rest}/leads/describe.json", api(describe), methods=["GET"]),
        Route(f"{rest}/leads/delete.json", api(delete), methods=["POST"]),
        Route(f"{rest}/activities/external/types.json", api(activity_types), methods=["GET"]),
        Route(f"{rest}/activities/external/type.json", api(create_type), methods=["POST"]),
        Route(f"{rest}/activities/external/type/{{api_name}}/approve.json", api(approve_type), methods=["POST"]),
        Route(f"{rest}/activities/external/type/{{api_name}}/attributes/create.json", api(add_attributes), methods=["POST"]),
        Route(f"{rest}/activities/external.json", api(add_activities), methods=["POST"]),
        Route(f"{rest}/activities.json", api(activities), methods=["GET"]),
        Route(f"{rest}/activities/pagingtoken.json", api(paging_token), methods=["GET"]),
        Route(f"{rest}/activities/leadchanges.json", api(lead_changes), methods=["GET"]),
        Route(f"{rest}/programs/{{program_id}}/members/status.json", api(member_status), methods=["POST"]),
        Route(f"{rest}/programs/{{program_id}}/members.json", api(members), methods=["GET"]),
        Route(f"{bulk}.json", api(export_list), methods=["GET"]),
        Route(f"{bulk}/create.json", api(export_create), methods=["POST"]),
        Route(f"{bulk}/{{export_id}}/enqueue.json", api(export_enqueue), methods=["POST"]),
        Route(f"{bulk}/{{export_id}}/status.json", api(export_status), methods=["GET"]),
        Route(f"{bulk}/{{export_id}}/file.json", api(export_file), methods=["GET"]),
        Route(f"{bulk}/{{export_id}}/cancel.json", api(export_cancel), methods=["POST"]),
        Route("/_sandbox", inspect, methods=["GET"]),
        Route("/_sandbox/faults", sandbox.fault_endpoint(state), methods=["POST"]),
        Route("/_sandbox/limits", set_limits, methods=["POST"]),
        Route("/_sandbox/{action}", steer, methods=["POST"]),
    ])
    app.state.sandbox = state
    return app


DEMO_PERSON = {"email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace", "company": "Analytical Engines",
               "title": "Head of Research"}
# The Munchkin cookie the demo's "known visitor" carries (Munchkin's shape: account id and token).
DEMO_COOKIE = "id:123-ABC-456&token:_mch-127.0.0.1-1700000000000-10001"


def seed_demo(state: MarketoSandboxState, leads: int = 3000) -> None:
    """What the offline demo starts with: a few thousand leads, one known person the demo page
    greets by name (``DEMO_PERSON``), and a program for chat engagement."""
    state.seed_leads(leads)
    person = state.add_lead(dict(DEMO_PERSON))
    state.cookies[DEMO_COOKIE] = person["id"]


def plugin_config(url: str, state: MarketoSandboxState | None = None) -> dict[str, Any]:
    """The settings a Marketo connector needs to use a sandbox served at ``url``.

    ``base_url`` is the instance root: REST under ``/rest``, bulk under ``/bulk``, identity under ``/identity``.
    """
    state = state or new_state()
    return {"base_url": url.rstrip("/"), "client_id": state.client_id, "client_secret": state.client_secret}


def serve_in_thread(host: str = "127.0.0.1", port: int = 0,
                    state: MarketoSandboxState | None = None) -> SandboxServer[MarketoSandboxState]:
    """Serve a sandbox on ``host:port`` (0: any free port) in a daemon thread; return once it listens."""
    state = state or new_state()
    return sandbox.serve_in_thread(create_sandbox(state), state, plugin_config, host, port, label="Marketo sandbox")


# -- helpers ---------------------------------------------------------------------------------------

def _ok(result: Any, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"requestId": _request_id(), "success": True}
    if result is not None:
        body["result"] = result
    body.update(warnings=[], **extra)
    return JSONResponse(body)


def _error_response(error: MarketoError) -> Response:
    return JSONResponse({"requestId": _request_id(), "success": False,
                         "errors": [{"code": error.code, "message": error.message}]})


def _fault_response(fault: Any) -> Response:
    if isinstance(fault, Fault) and fault.code:
        return _error_response(MarketoError(fault.code, fault.message or _FAULT_MESSAGES.get(fault.code, "Error")))
    # An outage in front of Marketo: a bare HTTP status with a text body, as a load balancer sends.
    return PlainTextResponse(f"HTTP {fault.status}", fault.status, headers=fault.headers())


_FAULT_MESSAGES = {"604": "Request time-out", "606": "Max rate limit '100' exceeded with in '20' secs",
                   "607": "Daily quota reached", "608": "API Temporarily Unavailable", "611": "System error",
                   "615": "Concurrent access limit reached"}


def _request_id() -> str:
    return f"{secrets.token_hex(2)}#{secrets.token_hex(6)[:11]}"


def _access_token(request: Request, state: MarketoSandboxState) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token
    return request.query_params.get("access_token") if state.accept_query_token else None


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as error:
        raise MarketoError("609", "Invalid JSON") from error
    if not isinstance(body, dict):
        raise MarketoError("609", "Invalid JSON")
    return body


def _input(body: dict[str, Any]) -> list[dict[str, Any]]:
    records = body.get("input") or []
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise MarketoError("1003", "input must be a list of objects")
    return records


def _csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _ints(values: list[str]) -> list[int]:
    try:
        return [int(value) for value in values]
    except ValueError as error:
        raise MarketoError("1003", "ids must be integers") from error


def _batch_size(text: str | None) -> int:
    return max(1, min(MAX_BATCH, int(text))) if text and text.isdigit() else MAX_BATCH


def _program_id(request: Request) -> int:
    try:
        return int(request.path_params["program_id"])
    except ValueError as error:
        raise MarketoError("610", "Requested resource not found") from error


def _export_id(request: Request) -> str:
    return request.path_params["export_id"]


def _without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for a single ``bytes=`` range, None for no (or an unreadable) Range header."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes="):].strip().partition("-")
    if not first:  # bytes=-500: the last 500 bytes
        return (max(0, size - int(last)), size - 1) if last.isdigit() else None
    if not first.isdigit() or (last and not last.isdigit()):
        return None
    return int(first), min(int(last), size - 1) if last else size - 1


def main() -> None:
    """Serve the sandbox in the foreground for a demo."""
    state = new_state()
    state.seed_leads(50)
    sandbox.serve_in_foreground(create_sandbox(state), lambda url: plugin_config(url, state), label="Marketo sandbox",
                                port=DEFAULT_PORT, description="A local stand-in for Marketo's REST and Bulk APIs")


if __name__ == "__main__":
    main()

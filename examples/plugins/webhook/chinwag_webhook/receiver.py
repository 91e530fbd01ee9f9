"""A webhook receiver as a receiving system should write one, served on loopback by the tests.

It verifies each delivery's signature (401 otherwise), applies each ``Chinwag-Event-Id`` once
(409 for one it has), keeps people by email from ``lead.upserted`` and deletes them on
``person.forget``. Switches make it misbehave: fail the next requests, be down, refuse an email.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import attrs
from chinwag.sandbox import SandboxServer, serve_in_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .connector import EVENT_ID_HEADER
from .signature import HEADER, SignatureError, verify


@attrs.define
class ReceiverState:
    """What the receiver applied and saw, and how it should misbehave."""

    secret: str
    events: dict[str, dict[str, Any]] = attrs.field(factory=dict)  # event id -> body, applied once
    order: list[str] = attrs.field(factory=list)  # event ids in the order applied
    leads: dict[str, dict[str, Any]] = attrs.field(factory=dict)  # email -> fields
    arrivals: Counter[str] = attrs.field(factory=Counter)  # event id -> requests that carried it
    bad_signatures: list[str] = attrs.field(factory=list)  # why each refused signature failed
    refused_emails: set[str] = attrs.field(factory=set)
    fail_next: int = 0  # answer 503 to this many requests
    down: bool = False
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def chat_events(self) -> list[str]:
        """The ids of the ``chat.*`` events applied, in order."""
        return [key for key in self.order if str(self.events[key].get("type", "")).startswith("chat.")]


def receiver_app(state: ReceiverState) -> Starlette:
    """``POST /hook``: verify, deduplicate, apply."""

    async def hook(request: Request) -> Response:
        body = await request.body()
        key = request.headers.get(EVENT_ID_HEADER, "")
        with state.lock:
            state.arrivals[key] += 1
            if state.down or state.fail_next > 0:
                state.fail_next = max(0, state.fail_next - 1)
                return JSONResponse({"error": "temporarily unavailable"}, status_code=503, headers={"Retry-After": "0"})
        try:
            verify(state.secret, request.headers.get(HEADER), body)
        except SignatureError as error:
            state.bad_signatures.append(str(error))
            return JSONResponse({"error": str(error)}, status_code=401)
        event = await request.json()
        if event.get("id") != key:
            return JSONResponse({"error": "the body's id is not the Chinwag-Event-Id header"}, status_code=400)
        if event.get("email") in state.refused_emails:
            return Response(f"{event['email']} is on our blocklist", status_code=422)
        with state.lock:
            if key in state.events:
                return JSONResponse({"status": "duplicate"}, status_code=409)
            state.events[key] = event
            state.order.append(key)
            if event["type"] == "lead.upserted":
                state.leads.setdefault(event["email"], {}).update(event["fields"])
            elif event["type"] == "person.forget":
                state.leads.pop(event["email"], None)
        return JSONResponse({"status": "applied"})

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def serve(secret: str) -> SandboxServer[ReceiverState]:
    """The receiver on a free loopback port; its ``plugin_config()`` points the connector at it."""
    state = ReceiverState(secret)
    return serve_in_thread(receiver_app(state), state, lambda url, s: {"url": f"{url}/hook", "secret": s.secret},
                           label="webhook receiver")

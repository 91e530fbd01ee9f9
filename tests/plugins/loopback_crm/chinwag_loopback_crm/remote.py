"""A small remote CRM, served on loopback by the tests: leads by email, activities applied once per
key (as a careful remote does with idempotency keys), lists, paged changes, and switches to fail.

Every request is recorded, so tests can count what was sent as well as what was applied.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@attrs.define
class RemoteCrm:
    """The remote's state and its switches."""

    leads: dict[str, dict[str, Any]] = attrs.field(factory=dict)  # email -> {id, person, company}
    applied: list[dict[str, Any]] = attrs.field(factory=list)  # activities, in the order applied
    applied_set: set[str] = attrs.field(factory=set)  # their keys
    sent: Counter[str] = attrs.field(factory=Counter)  # activity key -> times it arrived
    marked_retried: set[str] = attrs.field(factory=set)  # keys that arrived marked "sent before"
    lists: dict[str, dict[str, str | None]] = attrs.field(factory=lambda: defaultdict(dict))
    forgotten: list[str] = attrs.field(factory=list)
    fail_remaining: int = 0  # answer 503 to this many requests
    down: bool = False  # answer 503 to every request
    quota_exceeded_until: str | None = None  # ISO time: answer 429 "daily quota" until then
    refuse_emails: set[str] = attrs.field(factory=set)  # these leads are refused for good (422)
    delay: float = 0.0  # seconds each delivery request takes
    requests: int = 0
    last_id: int = 0
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def add_lead(self, email: str, person: dict[str, Any], company: dict[str, Any] | None = None) -> str:
        """A lead the CRM knows already; returns its id."""
        lead_id = self.new_id()
        self.leads[email] = {"id": lead_id, "person": person, "company": company or {}}
        return lead_id

    def new_id(self) -> str:
        """The next lead id (ids are never reused, even after a lead is forgotten)."""
        self.last_id += 1
        return f"L{self.last_id}"

    def applied_keys(self) -> list[str]:
        """The keys of the activities applied, in order."""
        return [activity["key"] for activity in self.applied]


def remote_app(state: RemoteCrm) -> Starlette:
    """The remote CRM's HTTP API."""

    async def gate(request: Request) -> Response | None:
        state.requests += 1
        if state.delay:
            await asyncio.sleep(state.delay)
        if state.down:
            return JSONResponse({"error": "down for maintenance"}, status_code=503)
        if state.fail_remaining > 0:
            state.fail_remaining -= 1
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        if state.quota_exceeded_until:
            return JSONResponse({"error": "daily quota exceeded", "reset": state.quota_exceeded_until}, status_code=429)
        return None

    async def leads(request: Request) -> Response:
        if (refused := await gate(request)) is not None:
            return refused
        body = await request.json()
        refusals = {}
        for lead in body["leads"]:
            if lead["email"] in state.refuse_emails:
                refusals[lead["key"]] = f"email {lead['email']} is on the CRM's blocklist"
                continue
            known = state.leads.get(lead["email"]) or state.leads.setdefault(
                lead["email"], {"id": state.new_id(), "person": {}, "company": {}})
            known["person"].update(lead["fields"])
        return JSONResponse({"refused": refusals})

    async def activities(request: Request) -> Response:
        if (refused := await gate(request)) is not None:
            return refused
        body = await request.json()
        refusals = {}
        with state.lock:
            for activity in body["activities"]:
                state.sent[activity["key"]] += 1
                if activity.get("retried"):
                    state.marked_retried.add(activity["key"])
                if activity.get("email") in state.refuse_emails:
                    refusals[activity["key"]] = "lead is refused"
                elif activity["key"] not in state.applied_set:  # the idempotency key: applied once
                    state.applied.append(activity)
                    state.applied_set.add(activity["key"])
        return JSONResponse({"refused": refusals})

    async def lists(request: Request) -> Response:
        if (refused := await gate(request)) is not None:
            return refused
        for membership in (await request.json())["memberships"]:
            state.lists[membership["list_id"]][membership["email"]] = membership["status"]
        return JSONResponse({"refused": {}})

    async def find(request: Request) -> Response:
        if (refused := await gate(request)) is not None:
            return refused
        lead = state.leads.get(request.query_params.get("email", ""))
        if lead is None:
            return JSONResponse({"lead": None})
        return JSONResponse({"lead": {"email": request.query_params["email"], **lead}})

    async def changes(request: Request) -> Response:
        if (refused := await gate(request)) is not None:
            return refused
        start = int(request.query_params.get("cursor") or 0)
        size = int(request.query_params.get("size", "100"))
        everyone = sorted(state.leads.items(), key=lambda item: int(item[1]["id"][1:]))  # L2 before L10
        page = everyone[start:start + size]
        return JSONResponse({"leads": [{"email": email, **lead} for email, lead in page],
                             "next": start + len(page), "done": start + len(page) >= len(everyone),
                             "total": len(everyone)})

    async def forget(request: Request) -> Response:
        if (refused := await gate(request)) is not None:
            return refused
        email = (await request.json())["email"]
        state.leads.pop(email, None)
        state.forgotten.append(email)
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/leads", leads, methods=["POST"]), Route("/activities", activities, methods=["POST"]),
                             Route("/lists", lists, methods=["POST"]), Route("/find", find),
                             Route("/changes", changes), Route("/forget", forget, methods=["POST"])])


@attrs.define
class LoopbackRemote:
    """The remote CRM as ``chinwag.testing_crm.CrmRemote`` sees it, for the contract suite."""

    state: RemoteCrm

    def add_lead(self, email: str, person: Mapping[str, Any], company: Mapping[str, Any]) -> str:
        """A person the CRM knows already."""
        return self.state.add_lead(email, dict(person), dict(company))

    def link_tracking_cookie(self, email: str) -> str:
        """The loopback CRM has no tracking cookie."""
        raise NotImplementedError("the loopback CRM has no tracking cookie")

    def has_lead(self, email: str) -> bool:
        """Whether the CRM holds ``email``."""
        return email in self.state.leads

    def lead_value(self, email: str, attribute: str) -> Any:
        """The CRM stores upserted fields under chinwag's own names."""
        return self.state.leads.get(email, {}).get("person", {}).get(attribute)

    def recorded_activities(self) -> list[str]:
        """The keys of the activities applied."""
        return self.state.applied_keys()

    def list_members(self, list_id: str) -> Mapping[str, str | None]:
        """Members of a list with their status."""
        return dict(self.state.lists.get(list_id, {}))

    def refuse(self, email: str) -> None:
        """Blocklist ``email``."""
        self.state.refuse_emails.add(email)

    def outage(self) -> None:
        """Answer 503 to everything."""
        self.state.down = True

    def recover(self) -> None:
        """Answer again."""
        self.state.down = False

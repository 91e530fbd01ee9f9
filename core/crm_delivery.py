"""A CRM connector as an outbox consumer: outbox rows in, lead upserts, activities and list
memberships out, refusals mapped back to the rows that caused them.

Every registered CRM connector gets one ``CrmDelivery`` under its own name. Within a batch the
calls go in the order a CRM needs: leads first (an activity needs its lead), then activities,
then list memberships. A lead the CRM refuses takes its activities with it, with the same reason.

A connector whose CRM records activities only against a known person (``needs_known_lead``:
Marketo) does not get a visitor's events while the visitor has no email: their outbox rows are
``held``, and the turn in which the visitor gives an email releases them with the lead as it
then stands, so "Engaged with a Dialogue", which comes before any email, reaches the person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .crm import Activity, CrmConnector, LeadUpsert
from .events import ChatEvent
from .outbox import FORGET_KIND, OutboxItem, Skipped

if TYPE_CHECKING:
    from .metrics import Metrics

T = TypeVar("T")

# The lead fields a CRM receives: what the visitor gave (``lead.*``) and their company's.
WRITABLE_PREFIXES = ("lead.", "company.")


def event_payload(event: ChatEvent, lead: Mapping[str, Any], lead_updates: Mapping[str, Any]) -> dict[str, Any]:
    """What an outbox row carries for one event: the event, the lead as it stood after the turn,
    and the fields this turn changed."""
    return {"session_id": event.session_id, "visitor_id": event.visitor_id, "dialogue_id": event.dialogue_id,
            "dialogue_name": event.dialogue_name, "page_url": event.page_url, "data": dict(event.data),
            "occurred_at": event.created_at.isoformat(), "lead": dict(lead), "lead_updates": dict(lead_updates)}


class CrmDelivery:
    """The outbox consumer for one CRM connector."""

    def __init__(self, connector: CrmConnector, metrics: Metrics | None = None) -> None:
        self.connector = connector
        self.metrics = metrics  # counts and times each call to the connector
        self.name = connector.name
        self.batch_size = max(1, int(getattr(connector, "batch_size", 100)))
        self.batch_wait = float(getattr(connector, "batch_wait", 0) or 0)  # optional: see OutboxConsumer

    @property
    def needs_known_lead(self) -> bool:
        """Whether the connector records activities only against a person with an email."""
        return bool(getattr(self.connector, "needs_known_lead", False))

    def holds(self, lead: Mapping[str, Any]) -> bool:
        """Whether an event of a visitor with this lead waits (``held``) until they give an email."""
        return self.needs_known_lead and known_email(lead) is None

    def released_by(self, lead: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any] | None:
        """What the held rows of a visitor take on when a turn gives their email (None: the turn
        releases nothing): the lead as it now stands, all of it new to the CRM."""
        if not self.needs_known_lead or "lead.email" not in updates or known_email(lead) is None:
            return None
        return {"lead": dict(lead), "lead_updates": dict(lead)}

    def wants(self, event: ChatEvent) -> bool:
        """Whether the connector asked for this event's type."""
        types = getattr(self.connector, "event_types", None)
        return types is None or event.name in types

    async def deliver(self, items: Sequence[OutboxItem]) -> dict[int, Skipped]:
        """Ask the CRM to forget the people of the batch's ``forget`` items (``chinwag forget``),
        then upsert its leads, record its activities and memberships; return the refusals."""
        for item in items:
            if item.kind == FORGET_KIND:
                await self._call("forget", self.connector.forget(str(item.payload["email"])))
        items = [item for item in items if item.kind != FORGET_KIND]
        skipped: dict[int, Skipped] = {}
        activities = {item.id: _activity(item) for item in items}
        by_key = {item.key: item.id for item in items}
        upserts = _latest_upserts(items)
        if upserts:
            refused = await self._call("upsert_leads", self.connector.upsert_leads(list(upserts.values())))
            refused_emails = {upsert.email: refused[upsert.key] for upsert in upserts.values() if upsert.key in refused}
            for item in items:
                email = activities[item.id].email
                if email in refused_emails:
                    skipped[item.id] = Skipped(f"lead refused: {refused_emails[email].reason}")
        recorded = [activity for item_id, activity in activities.items() if item_id not in skipped]
        if recorded:
            refused = await self._call("record_activities", self.connector.record_activities(recorded))
            for key, reason in refused.items():
                if key in by_key:
                    skipped[by_key[key]] = reason
        memberships = [membership for item in items if item.id not in skipped and activities[item.id].email
                       for membership in self.connector.memberships(activities[item.id])]
        if memberships:
            refused = await self._call("add_to_lists", self.connector.add_to_lists(memberships))
            for key, reason in refused.items():
                if key in by_key:
                    skipped.setdefault(by_key[key], Skipped(f"list membership refused: {reason.reason}"))
        return skipped

    async def _call(self, operation: str, call: Awaitable[T]) -> T:
        return await (self.metrics.crm(self.name, operation, call) if self.metrics is not None else call)


def known_email(lead: Mapping[str, Any]) -> str | None:
    """The visitor's email, lower case: the one they gave, else the one a CRM knows them by
    (``person.email``, after recognition by a tracking cookie); None for an anonymous visitor."""
    for name in ("lead.email", "person.email"):
        email = lead.get(name)
        if isinstance(email, str) and email.strip():
            return email.strip().lower()
    return None


def _activity(item: OutboxItem) -> Activity:
    payload = item.payload
    return Activity(key=item.key, type=item.kind, email=known_email(payload.get("lead", {})),
                    visitor_id=payload["visitor_id"], session_id=payload["session_id"],
                    dialogue_id=payload["dialogue_id"], dialogue_name=payload["dialogue_name"],
                    page_url=payload.get("page_url"), occurred_at=dt.datetime.fromisoformat(payload["occurred_at"]),
                    data=payload.get("data", {}), retried=item.attempts > 0)


def _latest_upserts(items: Sequence[OutboxItem]) -> dict[str, LeadUpsert]:
    """One upsert per email, from the batch's last item that changed that lead's fields."""
    upserts: dict[str, LeadUpsert] = {}
    for item in sorted(items, key=lambda item: item.id):
        lead = item.payload.get("lead", {})
        email = known_email(lead)
        if email is None or not (item.payload.get("lead_updates") or item.kind == "lead_captured"):
            continue
        fields = {name: value for name, value in lead.items() if name.startswith(WRITABLE_PREFIXES)}
        upserts[email] = LeadUpsert(key=item.key, email=email, fields=fields, visitor_id=item.payload["visitor_id"])
    return upserts

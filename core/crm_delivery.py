"""A CRM connector as an outbox consumer: outbox rows in, lead upserts, activities and list
memberships out, refusals mapped back to the rows that caused them.

Every registered CRM connector gets one ``CrmDelivery`` under its own name. Within a batch the
calls go in the order a CRM needs: leads first (an activity needs its lead), then activities,
then list memberships. A lead the CRM refuses takes its activities with it, with the same reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from .crm import Activity, CrmConnector, LeadUpsert
from .events import ChatEvent
from .outbox import OutboxItem, Skipped

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

    def __init__(self, connector: CrmConnector) -> None:
        self.connector = connector
        self.name = connector.name
        self.batch_size = max(1, int(getattr(connector, "batch_size", 100)))
        self.batch_wait = float(getattr(connector, "batch_wait", 0) or 0)  # optional: see OutboxConsumer

    def wants(self, event: ChatEvent) -> bool:
        """Whether the connector asked for this event's type."""
        types = getattr(self.connector, "event_types", None)
        return types is None or event.name in types

    async def deliver(self, items: Sequence[OutboxItem]) -> dict[int, Skipped]:
        """Upsert the batch's leads, record its activities and memberships; return the refusals."""
        skipped: dict[int, Skipped] = {}
        activities = {item.id: _activity(item) for item in items}
        by_key = {item.key: item.id for item in items}
        upserts = _latest_upserts(items)
        if upserts:
            refused = await self.connector.upsert_leads(list(upserts.values()))
            refused_emails = {upsert.email: refused[upsert.key] for upsert in upserts.values() if upsert.key in refused}
            for item in items:
                email = activities[item.id].email
                if email in refused_emails:
                    skipped[item.id] = Skipped(f"lead refused: {refused_emails[email].reason}")
        recorded = [activity for item_id, activity in activities.items() if item_id not in skipped]
        if recorded:
            refused = await self.connector.record_activities(recorded)
            for key, reason in refused.items():
                if key in by_key:
                    skipped[by_key[key]] = reason
        memberships = [membership for item in items if item.id not in skipped and activities[item.id].email
                       for membership in self.connector.memberships(activities[item.id])]
        if memberships:
            refused = await self.connector.add_to_lists(memberships)
            for key, reason in refused.items():
                if key in by_key:
                    skipped.setdefault(by_key[key], Skipped(f"list membership refused: {reason.reason}"))
        return skipped


def _email(lead: Mapping[str, Any]) -> str | None:
    email = lead.get("lead.email")
    return email.strip().lower() if isinstance(email, str) and email.strip() else None


def _activity(item: OutboxItem) -> Activity:
    payload = item.payload
    return Activity(key=item.key, type=item.kind, email=_email(payload.get("lead", {})),
                    visitor_id=payload["visitor_id"], session_id=payload["session_id"],
                    dialogue_id=payload["dialogue_id"], dialogue_name=payload["dialogue_name"],
                    page_url=payload.get("page_url"), occurred_at=dt.datetime.fromisoformat(payload["occurred_at"]),
                    data=payload.get("data", {}), retried=item.attempts > 0)


def _latest_upserts(items: Sequence[OutboxItem]) -> dict[str, LeadUpsert]:
    """One upsert per email, from the batch's last item that changed that lead's fields."""
    upserts: dict[str, LeadUpsert] = {}
    for item in sorted(items, key=lambda item: item.id):
        lead = item.payload.get("lead", {})
        email = _email(lead)
        if email is None or not (item.payload.get("lead_updates") or item.kind == "lead_captured"):
            continue
        fields = {name: value for name, value in lead.items() if name.startswith(WRITABLE_PREFIXES)}
        upserts[email] = LeadUpsert(key=item.key, email=email, fields=fields, visitor_id=item.payload["visitor_id"])
    return upserts

"""The webhook connector: chinwag's CRM contract, one signed POST per record.

chinwag's outbox hands the connector batches (in order per visitor, with retries); the connector
posts each record on its own, as JSON, with these headers:

* ``Chinwag-Event-Id``: the record's id (the chat event's id; ``lead:<event id>`` for a lead's
  fields). A record is sent again only after a failure or a crash (an activity then carries
  ``"retried": true``); receivers apply an id once.
* ``Chinwag-Signature``: ``t=<unix seconds>,v1=<HMAC-SHA256 hex>`` (see ``signature``).

What the receiver answers decides what happens:

* 2xx, or 409 (it has that id already): delivered;
* 400, 404, 410, 422: the record is refused for good (``Skipped`` with the status and the first
  line of the body), shown by ``chinwag outbox``, never sent again;
* anything else (5xx, 429, 401/403 for a wrong secret, no answer): the batch is retried later,
  with ``Retry-After`` honoured; records it delivered already are sent again and recognised by id.

A webhook is outbound only: it finds no leads, pulls nothing and has no lists. ``forget`` posts
a ``person.forget`` delivery, so the receiver can delete the person too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from chinwag.crm import Activity, LeadRecord, LeadUpsert, ListMembership, PullPage
from chinwag.outbox import RetryLater, Skipped

from .signature import HEADER, sign

EVENT_ID_HEADER = "Chinwag-Event-Id"
REFUSED_FOR_GOOD = {400, 404, 410, 422}
ALREADY_THERE = 409


class WebhookConnector:
    """Posts leads, chat events and forget requests to one URL, signed with a shared secret."""

    name = "webhook"
    tracking_cookie = None

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.url = str(settings["url"])
        self.secret = str(settings["secret"])
        types = settings.get("event_types")
        self.event_types = frozenset(types) if types else None
        self.batch_size = int(settings.get("batch_size", 50))
        self.timeout = float(settings.get("timeout", 10))
        self._client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def post(self, key: str, body: Mapping[str, Any]) -> Skipped | None:
        """Sign and post one delivery; None when delivered, ``Skipped`` when refused for good."""
        if self._client is None:  # made on first use, on the serving event loop
            self._client = httpx.AsyncClient(timeout=self.timeout)
        content = json.dumps(body, separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: key, HEADER: sign(self.secret, content),
                   "User-Agent": "chinwag-webhook"}
        try:
            response = await self._client.post(self.url, content=content, headers=headers)
        except httpx.HTTPError as error:
            raise RetryLater(f"webhook unreachable: {type(error).__name__}") from error
        if response.is_success or response.status_code == ALREADY_THERE:
            return None
        first_line = (response.text.strip().splitlines() or [""])[0][:200]
        if response.status_code in REFUSED_FOR_GOOD:
            return Skipped(f"webhook refused it ({response.status_code}): {first_line}")
        retry_after = response.headers.get("Retry-After")
        raise RetryLater(f"webhook answered {response.status_code}: {first_line}",
                         float(retry_after) if retry_after and retry_after.isdigit() else None)

    async def _post_all(self, records: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Skipped]:
        refused = {}
        for key, body in records:
            outcome = await self.post(key, body)
            if outcome is not None:
                refused[key] = outcome
        return refused

    async def find_lead(self, *, email: str | None = None, tracking_cookie: str | None = None) -> LeadRecord | None:
        """A webhook knows nobody."""
        return None

    async def upsert_leads(self, leads: Sequence[LeadUpsert]) -> dict[str, Skipped]:
        """One ``lead.upserted`` delivery per lead, its id ``lead:<event id>`` (the event that
        carried the fields is delivered too, under its own id)."""
        refused = await self._post_all([(f"lead:{lead.key}", {
            "id": f"lead:{lead.key}", "type": "lead.upserted", "email": lead.email, "visitor_id": lead.visitor_id,
            "fields": dict(lead.fields)}) for lead in leads])
        return {key.removeprefix("lead:"): reason for key, reason in refused.items()}

    async def record_activities(self, activities: Sequence[Activity]) -> dict[str, Skipped]:
        """One ``chat.<event type>`` delivery per activity."""
        return await self._post_all([(a.key, {
            "id": a.key, "type": f"chat.{a.type}", "email": a.email, "visitor_id": a.visitor_id,
            "session_id": a.session_id, "dialogue": {"id": a.dialogue_id, "name": a.dialogue_name},
            "page_url": a.page_url, "occurred_at": a.occurred_at.isoformat(), "data": dict(a.data),
            "retried": a.retried}) for a in activities])

    def memberships(self, activity: Activity) -> list[ListMembership]:
        """A webhook has no lists."""
        return []

    async def add_to_lists(self, memberships: Sequence[ListMembership]) -> dict[str, Skipped]:
        """Nothing to do: a webhook has no lists."""
        return {}

    async def pull(self, cursor: str | None) -> PullPage:
        """Nothing to pull: an empty page that is done."""
        return PullPage([], cursor, True, 0)

    async def forget(self, email: str) -> None:
        """Ask the receiver to delete the person (raises while it cannot be reached)."""
        moment = dt.datetime.now(dt.timezone.utc)
        key = f"forget:{email}:{moment.isoformat()}"
        refused = await self.post(key, {"id": key, "type": "person.forget", "email": email,
                                        "occurred_at": moment.isoformat()})
        if refused is not None:
            raise RuntimeError(f"the webhook did not accept forgetting {email}: {refused.reason}")

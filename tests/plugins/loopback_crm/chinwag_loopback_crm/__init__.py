"""A CRM connector for chinwag's tests: real HTTP to ``chinwag_loopback_crm.remote`` on loopback.

Inert unless configured: ``plugins: {loopback_crm: {base_url: http://127.0.0.1:PORT}}``
(optional: ``batch_size``, ``event_types``, ``list_for_goal``, ``person_fields``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import httpx

from chinwag import hookimpl
from chinwag.attributes import Attribute
from chinwag.crm import Activity, LeadRecord, LeadUpsert, ListMembership, PullPage
from chinwag.outbox import PauseDelivery, RetryLater, Skipped

PLUGIN = "loopback_crm"  # the entry-point name: the key of the settings under `plugins:`


class LoopbackCrm:
    """The connector: each contract method is one HTTP request to the remote CRM."""

    name = "loopback-crm"
    tracking_cookie = None  # the loopback CRM has no tracking cookie

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.base_url = str(settings["base_url"]).rstrip("/")
        self.batch_size = int(settings.get("batch_size", 50))
        types = settings.get("event_types")
        self.event_types = frozenset(types) if types else None
        self.list_for_goal = settings.get("list_for_goal")
        self._client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        """Close the HTTP client (at shutdown)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        if self._client is None:  # made on first use, on the serving event loop
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=10)
        try:
            response = await self._client.request(method, path, **options)
        except httpx.HTTPError as error:
            raise RetryLater(f"remote CRM unreachable: {type(error).__name__}") from error
        if response.status_code == 429:
            body = response.json()
            raise PauseDelivery(dt.datetime.fromisoformat(body["reset"]), body["error"])
        if response.status_code >= 500:
            raise RetryLater(f"remote CRM answered {response.status_code}: {response.json().get('error')}",
                             after=None)
        response.raise_for_status()
        return response.json()

    async def find_lead(self, *, email: str | None = None, tracking_cookie: str | None = None) -> LeadRecord | None:
        """GET /find?email=."""
        if email is None:
            return None
        lead = (await self._call("GET", "/find", params={"email": email}))["lead"]
        return None if lead is None else LeadRecord(lead["id"], lead["email"], lead["person"], lead["company"])

    async def upsert_leads(self, leads: Sequence[LeadUpsert]) -> dict[str, Skipped]:
        """POST /leads."""
        body = {"leads": [{"key": lead.key, "email": lead.email, "fields": dict(lead.fields)} for lead in leads]}
        return {key: Skipped(reason) for key, reason in (await self._call("POST", "/leads", json=body))["refused"].items()}

    async def record_activities(self, activities: Sequence[Activity]) -> dict[str, Skipped]:
        """POST /activities, each with its key."""
        body = {"activities": [{"key": a.key, "type": a.type, "email": a.email, "visitor": a.visitor_id,
                                "dialogue": a.dialogue_id, "at": a.occurred_at.isoformat(), "data": dict(a.data),
                                "retried": a.retried}
                               for a in activities]}
        return {key: Skipped(reason) for key, reason in (await self._call("POST", "/activities", json=body))["refused"].items()}

    def memberships(self, activity: Activity) -> list[ListMembership]:
        """A goal adds the lead to the configured list with the goal as status."""
        if self.list_for_goal and activity.type == "goal_reached" and activity.email:
            return [ListMembership(activity.key, activity.email, str(self.list_for_goal), str(activity.data.get("goal")))]
        return []

    async def add_to_lists(self, memberships: Sequence[ListMembership]) -> dict[str, Skipped]:
        """POST /lists."""
        body = {"memberships": [{"key": m.key, "email": m.email, "list_id": m.list_id, "status": m.status}
                                for m in memberships]}
        return {key: Skipped(reason) for key, reason in (await self._call("POST", "/lists", json=body))["refused"].items()}

    async def pull(self, cursor: str | None) -> PullPage:
        """GET /changes?cursor=."""
        page = await self._call("GET", "/changes", params={"cursor": cursor or "0", "size": "100"})
        records = [LeadRecord(lead["id"], lead["email"], lead["person"], lead["company"]) for lead in page["leads"]]
        return PullPage(records, str(page["next"]), page["done"], page["total"])

    async def forget(self, email: str) -> None:
        """POST /forget."""
        await self._call("POST", "/forget", json={"email": email})


@hookimpl
def register_crm_connectors(register: Callable[[Any], Any], app: Any) -> None:
    """The connector, when the project configures a base_url."""
    settings = app.config.plugin_config(PLUGIN)
    if settings.get("base_url"):
        register(LoopbackCrm(settings))


@hookimpl
async def shutdown(app: Any) -> None:
    """Close the connector's HTTP client."""
    connector = app.crm_connectors.get(LoopbackCrm.name)
    if connector is not None:
        await connector.close()


@hookimpl
def register_attributes(register: Callable[[Any], Any], app: Any) -> None:
    """The person fields the project names (``person_fields``)."""
    for name in app.config.plugin_config(PLUGIN).get("person_fields", []):
        register(Attribute(f"person.{name}", "string", name))

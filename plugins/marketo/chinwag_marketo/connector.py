"""The Marketo connector: chinwag's CRM contract (``chinwag.crm.CrmConnector``) over Marketo's REST API.

Out (through chinwag's outbox, so nothing is lost or sent twice):

* leads: ``POST leads.json`` createOrUpdate by email, 300 at a time, with the fields of
  ``field_map``; a record Marketo skips (1xxx) is refused with its reason;
* activities: one custom activity type each for "Engaged with a Dialogue", "Reached Dialogue
  Goal" and "Scheduled Meeting in Dialogue" (``chinwag marketo setup`` creates them). The
  primary attribute is the chinwag event's id, so an activity whose first sending had no
  answer (``activity.retried``) is looked up among the lead's activities before it is sent again:
  exactly once at Marketo, not merely at least once. Marketo records activities against leads, so
  the events of a visitor without an email wait in chinwag's outbox (``held``) until the visitor
  gives one, then go out against that lead (``needs_known_lead``); one that reaches the connector
  without an email anyway is refused as anonymous;
* program membership: ``programs/{id}/members/status.json`` per dialogue or goal; a lead already
  at or past the status (1037) counts as done.

In: ``find_lead`` by email or Munchkin cookie, ``pull`` of data value changes (and new activities
of the chosen types) since a paging token, ``forget`` (``leads/delete.json``, when ``delete_on_forget`` is set).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from chinwag.crm import Activity, CrmActivity, LeadRecord, LeadUpsert, ListMembership, PullPage
from chinwag.outbox import Skipped
from chinwag.shared_limits import SharedLimiter

from .client import InitialSyncNeeded, MarketoClient, MarketoError
from .settings import MarketoSettings

log = logging.getLogger("chinwag.marketo")

BATCH = 300  # Marketo's records per call for leads, activities and program members
LEADS_PER_ACTIVITY_QUERY = 30  # leadIds per activities.json call

# chinwag event type -> which of the three custom activity types records it
ACTIVITY_FOR_EVENT = {"engaged": "engaged", "goal_reached": "goal", "meeting_booked": "meeting"}
ANONYMOUS = "anonymous visitor: Marketo records activities against a known lead (no email given yet)"


def activity_from_api(item: Mapping[str, Any]) -> CrmActivity | None:
    """An activity as ``activities.json`` returns it, or None when it lacks its id, lead, type or
    a readable date. Its attributes (a list of name and value) become a mapping by name."""
    try:
        moment = dt.datetime.fromisoformat(str(item["activityDate"]).replace("Z", "+00:00"))
        if moment.tzinfo is None or not _whole(item["leadId"]) or not _whole(item["activityTypeId"]):
            return None
        attributes = {str(pair["name"]): pair.get("value") for pair in item.get("attributes") or []
                      if isinstance(pair, Mapping) and "name" in pair}
        primary = item.get("primaryAttributeValue")
        return CrmActivity(str(item.get("marketoGUID") or item["id"]), str(int(item["leadId"])),
                           int(item["activityTypeId"]), moment, None if primary is None else str(primary), attributes)
    except (KeyError, TypeError, ValueError):
        return None


def _whole(value: Any) -> bool:
    """Whether ``value`` is a whole number or its text (an id Marketo returned)."""
    try:
        return not isinstance(value, bool) and int(value) == float(value)
    except (TypeError, ValueError):
        return False


def _items(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The mappings in an answer's ``result`` (anything else in it is ignored)."""
    result = body.get("result")
    return [item for item in result if isinstance(item, Mapping)] if isinstance(result, list) else []


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


class MarketoConnector:
    """``CrmConnector`` for one Marketo instance."""

    name = "marketo"
    tracking_cookie = "_mkto_trk"  # Munchkin's cookie: leads.json?filterType=cookies finds its lead
    needs_known_lead = True  # activities go against a lead: a visitor's events wait until their email is known

    def __init__(self, settings: MarketoSettings, limiter: Callable[[str, int], SharedLimiter]) -> None:
        self.settings = settings
        self.client = MarketoClient(settings, limiter)
        self.batch_size = settings.batch_size
        self.batch_wait = settings.batch_wait  # fuller batches: Marketo counts calls, not records
        self.sync_every = settings.sync_every  # scheduled incremental pulls inside chinwag serve
        self.event_types = frozenset({"lead_captured", *ACTIVITY_FOR_EVENT})
        self._lead_ids: dict[str, int] = {}  # email -> Marketo lead id, learned from answers
        self._type_ids: dict[str, int] = {}  # custom activity type API name -> id

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.close()

    # -- in ---------------------------------------------------------------------------------------

    @property
    def _fields(self) -> list[str]:
        return ["id", "email", "updatedAt", *self.settings.person_fields, *self.settings.company_fields]

    def _record(self, lead: Mapping[str, Any]) -> LeadRecord:
        person = {name: lead.get(name) for name in self.settings.person_fields}
        company = {name: lead.get(name) for name in self.settings.company_fields}
        updated = lead.get("updatedAt")
        return LeadRecord(str(lead["id"]), lead.get("email"), person, company,
                          dt.datetime.fromisoformat(updated.replace("Z", "+00:00")) if isinstance(updated, str) else None)

    async def find_lead(self, *, email: str | None = None, tracking_cookie: str | None = None,
                        lookup: bool = True) -> LeadRecord | None:
        """The lead with this email, or the one the Munchkin cookie belongs to.

        A visitor is waiting, so by default this is a lookup: it uses ``lookup_share`` and never
        queues; when that share has no room it raises ``LimiterBusy`` and chinwag goes on without it.
        """
        if email is None and tracking_cookie is None:
            return None
        filter_type, value = ("email", email) if email is not None else ("cookies", tracking_cookie)
        body = await self.client.request("GET", "/rest/v1/leads.json", params={
            "filterType": filter_type, "filterValues": value, "fields": ",".join(self._fields)}, lookup=lookup)
        leads = [lead for lead in body.get("result") or [] if isinstance(lead, Mapping) and "id" in lead]
        if not leads:
            return None
        lead = max(leads, key=lambda lead: str(lead.get("updatedAt", "")))  # several: the freshest
        if isinstance(lead.get("email"), str):
            self._lead_ids[lead["email"].lower()] = int(lead["id"])
        return self._record(lead)

    async def pull(self, cursor: str | None) -> PullPage:
        """People whose synced fields changed, and new activities of the types in
        ``sync_activity_types``, since ``cursor``: the paging token the initial sync (``chinwag
        marketo sync``) leaves behind; before that sync there is nothing to continue.

        The two streams move on separately, so the cursor is the lead-changes token, then (when
        activities are pulled) a space and the activities token; a lone token is both.
        """
        if cursor is None:
            raise InitialSyncNeeded("sync", "the initial sync has not run yet: run chinwag marketo sync")
        if cursor.startswith("{"):
            # A bulk cursor (``bulk_sync``): the initial sync has not finished, and a paging token
            # for now would skip the leads it has not exported yet.
            raise InitialSyncNeeded("bulk", "the initial sync has not finished: run chinwag marketo sync")
        changes_token, _, activities_token = cursor.partition(" ")
        records, changes_token, more_changes = await self._changed_leads(changes_token)
        if not self.settings.sync_activity_types:
            return PullPage(records, changes_token, not more_changes)
        activities, activities_token, more_activities = await self._new_activities(activities_token or changes_token)
        return PullPage(records, f"{changes_token} {activities_token}", not (more_changes or more_activities),
                        activities=activities)

    async def _changed_leads(self, token: str) -> tuple[list[LeadRecord], str, bool]:
        """One page of data value changes of the synced fields: the changed leads, read afresh,
        the next token and whether more changes wait."""
        fields = [*self.settings.person_fields, *self.settings.company_fields]
        body = await self.client.request("GET", "/rest/v1/activities/leadchanges.json", params={
            "nextPageToken": token, "fields": ",".join(fields) or "email"})
        lead_ids = sorted({int(change["leadId"]) for change in _items(body) if _whole(change.get("leadId"))})
        records: list[LeadRecord] = []
        for ids in chunks(lead_ids, BATCH):
            found = await self.client.request("GET", "/rest/v1/leads.json", params={
                "filterType": "id", "filterValues": ",".join(map(str, ids)), "fields": ",".join(self._fields)})
            records += [self._record(lead) for lead in _items(found) if "id" in lead]
        return records, str(body.get("nextPageToken") or token), bool(body.get("moreResult"))

    async def _new_activities(self, token: str) -> tuple[list[CrmActivity], str, bool]:
        """One page of activities of the types in ``sync_activity_types`` after ``token``: the
        activities Marketo returned whole (the others are logged and left out), the next token
        and whether more wait."""
        body = await self.client.request("GET", "/rest/v1/activities.json", params={
            "nextPageToken": token, "activityTypeIds": ",".join(map(str, self.settings.sync_activity_types))})
        activities = []
        for item in _items(body):
            activity = activity_from_api(item)
            if activity is None:
                log.warning("Marketo returned an activity chinwag cannot read: %.200r", item)
            else:
                activities.append(activity)
        return activities, str(body.get("nextPageToken") or token), bool(body.get("moreResult"))

    async def _paging_token(self, since: dt.datetime) -> str:
        body = await self.client.request("GET", "/rest/v1/activities/pagingtoken.json",
                                         params={"sinceDatetime": since.isoformat()})
        return str(body["nextPageToken"])

    async def forget(self, email: str) -> None:
        """Delete the person in Marketo, when the project says so (``delete_on_forget``)."""
        if not self.settings.delete_on_forget:
            return
        lead = await self.find_lead(email=email, lookup=False)
        if lead is not None:
            await self.client.request("POST", "/rest/v1/leads/delete.json", json={"input": [{"id": int(lead.lead_id)}]})
            self._lead_ids.pop(email.lower(), None)

    # -- out --------------------------------------------------------------------------------------

    async def upsert_leads(self, leads: Sequence[LeadUpsert]) -> dict[str, Skipped]:
        """createOrUpdate by email; what Marketo skips is refused with its reason."""
        refused: dict[str, Skipped] = {}
        for batch in chunks(list(leads), BATCH):
            records = [self._lead_fields(lead) for lead in batch]
            try:
                body = await self.client.request("POST", "/rest/v1/leads.json", json={
                    "action": "createOrUpdate", "lookupField": "email", "input": records})
            except MarketoError as error:
                refused.update({lead.key: Skipped(str(error)) for lead in batch})
                continue
            for lead, result in zip(batch, body.get("result") or []):
                if result.get("status") in ("created", "updated") and "id" in result:
                    self._lead_ids[lead.email.lower()] = int(result["id"])
                else:
                    refused[lead.key] = Skipped(_reasons(result, "reasons"))
        return refused

    def _lead_fields(self, lead: LeadUpsert) -> dict[str, Any]:
        fields = {"email": lead.email}
        for attribute, field in self.settings.field_map.items():
            if attribute in lead.fields and lead.fields[attribute] not in (None, ""):
                fields[field] = lead.fields[attribute]
        return fields

    async def record_activities(self, activities: Sequence[Activity]) -> dict[str, Skipped]:
        """The custom activities of these events, each once (see the module docstring)."""
        refused: dict[str, Skipped] = {}
        wanted = [activity for activity in activities if activity.type in ACTIVITY_FOR_EVENT]
        for activity in wanted:
            if not activity.email:
                refused[activity.key] = Skipped(ANONYMOUS)
        known = [activity for activity in wanted if activity.email]
        lead_ids = await self._ids_for({activity.email for activity in known if activity.email})
        type_ids = await self._activity_type_ids()
        inputs: list[tuple[Activity, dict[str, Any]]] = []
        for activity in known:
            lead_id = lead_ids.get(activity.email.lower())  # type: ignore[union-attr]
            type_name = self.settings.activity_types[ACTIVITY_FOR_EVENT[activity.type]]
            if lead_id is None:
                refused[activity.key] = Skipped(f"no Marketo lead with email {activity.email}")
            elif type_name not in type_ids:
                refused[activity.key] = Skipped(f"custom activity type {type_name} is missing or not approved "
                                                "in Marketo: run chinwag marketo setup")
            else:
                inputs.append((activity, _activity_input(activity, lead_id, type_ids[type_name])))
        already = await self._recorded_before([(activity, record) for activity, record in inputs if activity.retried])
        inputs = [(activity, record) for activity, record in inputs if activity.key not in already]
        for batch in chunks(inputs, BATCH):
            try:
                body = await self.client.request("POST", "/rest/v1/activities/external.json",
                                                 json={"input": [record for _, record in batch]})
            except MarketoError as error:
                refused.update({activity.key: Skipped(str(error)) for activity, _ in batch})
                continue
            for (activity, _), result in zip(batch, body.get("result") or []):
                if result.get("status") != "added":
                    refused[activity.key] = Skipped(_reasons(result, "errors"))
        return refused

    async def _ids_for(self, emails: set[str]) -> dict[str, int]:
        """Marketo lead ids of these emails: learned ones, the rest looked up 300 at a time."""
        missing = sorted(email.lower() for email in emails if email.lower() not in self._lead_ids)
        for batch in chunks(missing, BATCH):
            body = await self.client.request("GET", "/rest/v1/leads.json", params={
                "filterType": "email", "filterValues": ",".join(batch), "fields": "id,email"})
            for lead in body.get("result") or []:
                if isinstance(lead.get("email"), str) and "id" in lead:
                    self._lead_ids[lead["email"].lower()] = int(lead["id"])
        return {email.lower(): self._lead_ids[email.lower()] for email in emails if email.lower() in self._lead_ids}

    async def _activity_type_ids(self) -> dict[str, int]:
        """Approved custom activity types by API name (read once, then kept)."""
        if not self._type_ids:
            body = await self.client.request("GET", "/rest/v1/activities/external/types.json")
            self._type_ids = {kind["apiName"]: int(kind["id"]) for kind in body.get("result") or []
                              if kind.get("status") == "approved" and "apiName" in kind and "id" in kind}
        return self._type_ids

    async def _recorded_before(self, inputs: Sequence[tuple[Activity, dict[str, Any]]]) -> set[str]:
        """Keys among these re-sent activities that Marketo already has (their primary attribute)."""
        if not inputs:
            return set()
        since = min(activity.occurred_at for activity, _ in inputs) - dt.timedelta(minutes=5)
        type_ids = sorted({record["activityTypeId"] for _, record in inputs})
        keys = {activity.key for activity, _ in inputs}
        found: set[str] = set()
        for leads in chunks(sorted({record["leadId"] for _, record in inputs}), LEADS_PER_ACTIVITY_QUERY):
            token = await self._paging_token(since)
            while True:
                body = await self.client.request("GET", "/rest/v1/activities.json", params={
                    "activityTypeIds": ",".join(map(str, type_ids)), "leadIds": ",".join(map(str, leads)),
                    "nextPageToken": token})
                found |= {str(item.get("primaryAttributeValue")) for item in body.get("result") or []} & keys
                token = body.get("nextPageToken") or token
                if not body.get("moreResult"):
                    break
        return found

    def memberships(self, activity: Activity) -> list[ListMembership]:
        """Program membership from ``programs``: on engaging with a dialogue, or reaching a goal."""
        if not activity.email:
            return []
        goal = activity.data.get("goal") if activity.type == "goal_reached" else None
        return [ListMembership(activity.key, activity.email, str(rule.program_id), rule.status)
                for rule in self.settings.programs
                if (rule.dialogue is not None and activity.type == "engaged" and rule.dialogue == activity.dialogue_id)
                or (rule.goal is not None and goal == rule.goal)]

    async def add_to_lists(self, memberships: Sequence[ListMembership]) -> dict[str, Skipped]:
        """Program member status, per program and status; 1037 (already there or past) is done."""
        refused: dict[str, Skipped] = {}
        groups: dict[tuple[str, str | None], list[ListMembership]] = {}
        for membership in memberships:
            groups.setdefault((membership.list_id, membership.status), []).append(membership)
        for (program_id, status), members in groups.items():
            lead_ids = await self._ids_for({member.email for member in members})
            for batch in chunks(members, BATCH):
                ready = [member for member in batch if member.email.lower() in lead_ids]
                refused.update({member.key: Skipped(f"no Marketo lead with email {member.email}")
                                for member in batch if member not in ready})
                if not ready:
                    continue
                try:
                    body = await self.client.request("POST", f"/rest/v1/programs/{int(program_id)}/members/status.json",
                                                     json={"statusName": status, "input": [
                                                         {"leadId": lead_ids[member.email.lower()]} for member in ready]})
                except MarketoError as error:
                    refused.update({member.key: Skipped(str(error)) for member in ready})
                    continue
                for member, result in zip(ready, body.get("result") or []):
                    if result.get("status") == "skipped" and not _has_code(result, "1037"):
                        refused[member.key] = Skipped(_reasons(result, "reasons"))
        return refused


def _activity_input(activity: Activity, lead_id: int, type_id: int) -> dict[str, Any]:
    """One custom activity: the event's id as primary attribute, the trigger tokens as attributes."""
    data = activity.data
    attributes = {"dialogueName": activity.dialogue_name, "pageUrl": activity.page_url or "",
                  "sessionId": activity.session_id}
    if activity.type == "engaged":
        attributes["status"] = "Initiated"
    elif activity.type == "goal_reached":
        attributes["goalName"] = str(data.get("goal", ""))
    elif activity.type == "meeting_booked":
        attributes.update(agentEmail=str(data.get("agent_email", "")), agentName=str(data.get("agent_name", "")),
                          scheduledFor=str(data.get("start", "")), meetingStatus="Scheduled",
                          routingQueue=str(data.get("queue", "")))
    return {"leadId": lead_id, "activityDate": activity.occurred_at.isoformat(), "activityTypeId": type_id,
            "primaryAttributeValue": activity.key,
            "attributes": [{"apiName": name, "value": value} for name, value in attributes.items()]}


def _has_code(result: Mapping[str, Any], code: str) -> bool:
    return any(str(reason.get("code")) == code for reason in result.get("reasons") or [] if isinstance(reason, Mapping))


def _reasons(result: Mapping[str, Any], key: str) -> str:
    """Marketo's record-level reasons as one line: ``1003 Invalid email; ...``."""
    reasons = [f"{reason.get('code')} {reason.get('message')}" for reason in result.get(key) or []
               if isinstance(reason, Mapping)]
    return "Marketo skipped the record: " + ("; ".join(reasons) or f"status {result.get('status')!r}")

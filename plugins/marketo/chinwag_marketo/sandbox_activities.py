"""Activities in the sandbox: custom activity types (draft, approve, attributes), activities and paging.

Standard activities the sandbox writes itself: 12 "New Lead" and 13 "Change Data Value" (the ids in
Marketo's docs). Custom types get ids from 100001, as in the docs' types example; the real range
is not documented.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from .sandbox_bulk import parse_instant, zulu
from .sandbox_limits import MarketoError

NEW_LEAD = 12
CHANGE_DATA_VALUE = 13
MAX_CUSTOM_TYPES = 10
MAX_ATTRIBUTES = 20
MAX_BATCH = 300
TYPE_REQUIRED = ("apiName", "name", "triggerName", "filterName", "primaryAttribute")
ACTIVITY_REQUIRED = ("leadId", "activityDate", "activityTypeId", "primaryAttributeValue", "attributes")


def now_zulu() -> str:
    """The current time as Marketo writes it."""
    return zulu(dt.datetime.now(dt.timezone.utc))


@attrs.define
class ActivityLog:
    """Custom activity types and every activity, in the order they were recorded (ids ascending)."""

    types: dict[str, dict[str, Any]] = attrs.field(factory=dict)  # apiName -> type
    activities: list[dict[str, Any]] = attrs.field(factory=list)
    next_type_id: int = 100_001
    next_activity_id: int = 1

    # -- custom activity types -----------------------------------------------------------------------

    def create_type(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new custom type in status ``draft``; 701 for a missing field, 1017 for a taken apiName, 1027 past 10."""
        for name in TYPE_REQUIRED:
            if not body.get(name):
                raise MarketoError("701", f"{name} cannot be blank")
        primary = body["primaryAttribute"]
        if not isinstance(primary, dict) or not primary.get("apiName") or not primary.get("name"):
            raise MarketoError("701", "primaryAttribute.apiName and primaryAttribute.name cannot be blank")
        if body["apiName"] in self.types:
            raise MarketoError("1017", f"Activity type '{body['apiName']}' already exists")
        if len(self.types) >= MAX_CUSTOM_TYPES:
            raise MarketoError("1027", f"Max activity type limit reached: {MAX_CUSTOM_TYPES}")
        stamp = now_zulu()
        activity_type = {
            "id": self.next_type_id, "apiName": body["apiName"], "name": body["name"],
            "description": body.get("description", ""), "triggerName": body["triggerName"],
            "filterName": body["filterName"], "status": "draft", "createdAt": stamp, "updatedAt": stamp,
            "primaryAttribute": {"apiName": primary["apiName"], "name": primary["name"],
                                 "description": primary.get("description", ""), "dataType": "string"},
            "attributes": [],
        }
        self.next_type_id += 1
        self.types[body["apiName"]] = activity_type
        return activity_type

    def approve_type(self, api_name: str) -> dict[str, Any]:
        """Approve a draft so activities of that type are accepted."""
        activity_type = self._type(api_name)
        activity_type.update(status="approved", updatedAt=now_zulu())
        return activity_type

    def add_attributes(self, api_name: str, attributes: list[dict[str, Any]]) -> dict[str, Any]:
        """Add attributes (``apiName``, ``name``, ``dataType``...) to a type; 1028 past 20 in all."""
        activity_type = self._type(api_name)
        if len(activity_type["attributes"]) + len(attributes) > MAX_ATTRIBUTES:
            raise MarketoError("1028", f"Max attribute limit reached: {MAX_ATTRIBUTES}")
        for attribute in attributes:
            if not attribute.get("apiName") or not attribute.get("name"):
                raise MarketoError("701", "attribute apiName and name cannot be blank")
            activity_type["attributes"].append({"apiName": attribute["apiName"], "name": attribute["name"],
                                                "description": attribute.get("description", ""),
                                                "dataType": attribute.get("dataType", "string")})
        activity_type["updatedAt"] = now_zulu()
        return activity_type

    def _type(self, api_name: str) -> dict[str, Any]:
        if api_name not in self.types:
            raise MarketoError("610", f"Activity type '{api_name}' not found")
        return self.types[api_name]

    # -- activities ------------------------------------------------------------------------------------

    def record(self, lead_id: int, type_id: int, activity_date: str, primary_value: Any = None,
               attributes: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        """Store one activity and return it as activities.json answers it."""
        activity = {"id": self.next_activity_id, "marketoGUID": str(self.next_activity_id), "leadId": lead_id,
                    "activityDate": activity_date, "activityTypeId": type_id,
                    "primaryAttributeValue": primary_value, "attributes": attributes or [], **extra}
        self.next_activity_id += 1
        self.activities.append(activity)
        return activity

    def add_custom(self, records: list[dict[str, Any]], lead_exists: Callable[[int], bool]) -> list[dict[str, Any]]:
        """Add custom activities; one result per record in input order (skipped ones carry ``errors``)."""
        if len(records) > MAX_BATCH:
            raise MarketoError("1003", f"Too many records: at most {MAX_BATCH} per call")
        approved = {t["id"]: t for t in self.types.values() if t["status"] == "approved"}
        results = []
        for record in records:
            missing = [name for name in ACTIVITY_REQUIRED if record.get(name) in (None, "")]
            moment = parse_instant(record.get("activityDate"))
            activity_type = approved.get(_int(record.get("activityTypeId")))
            if missing:
                results.append(_skipped("1002", f"Missing value for required field: {missing[0]}"))
            elif moment is None:
                results.append(_skipped("1001", "Invalid value for activityDate"))
            elif activity_type is None:
                # Marketo's code for an unknown or unapproved type is not documented; 1013 "object not found".
                results.append(_skipped("1013", "Activity type not found or not approved"))
            elif not lead_exists(_int(record.get("leadId")) or -1):
                results.append(_skipped("1004", "Lead not found"))
            else:
                names = {a["apiName"]: a["name"] for a in activity_type["attributes"]}
                attributes = [{"name": names.get(a.get("apiName"), a.get("name", a.get("apiName"))),
                               "apiName": a.get("apiName", a.get("name")), "value": a.get("value")}
                              for a in record["attributes"]]
                activity = self.record(int(record["leadId"]), activity_type["id"], zulu(moment),
                                       record["primaryAttributeValue"], attributes)
                results.append({"id": activity["id"], "marketoGUID": activity["marketoGUID"], "status": "added"})
        return results

    # -- paging ----------------------------------------------------------------------------------------

    def paging_token(self, since: str) -> str:
        """A token for activities dated at or after ``since`` (ISO 8601); 1003 when it does not parse."""
        moment = parse_instant(since)
        if moment is None:
            raise MarketoError("1003", "Invalid sinceDatetime")
        return _token(zulu(moment), 0)

    def page(self, token: str, type_ids: Iterable[int] | None, lead_ids: Iterable[int] | None,
             batch_size: int) -> tuple[list[dict[str, Any]], bool, str]:
        """Activities after ``token`` matching the filters: (page, moreResult, nextPageToken)."""
        since, after = _untoken(token)
        types, leads = set(type_ids or []), set(lead_ids or [])
        matching = (a for a in self.activities if a["id"] > after and a["activityDate"] >= since
                    and (not types or a["activityTypeId"] in types) and (not leads or a["leadId"] in leads))
        page: list[dict[str, Any]] = []
        for activity in matching:
            if len(page) == batch_size:
                return page, True, _token(since, page[-1]["id"])
            page.append(activity)
        return page, False, _token(since, page[-1]["id"] if page else after)


def _token(since: str, after: int) -> str:
    # Opaque to clients, like Marketo's; base32 because Marketo's tokens look that way.
    return base64.b32encode(json.dumps([since, after]).encode()).decode()


def _untoken(token: str) -> tuple[str, int]:
    try:
        since, after = json.loads(base64.b32decode(token.encode()))
        return str(since), int(after)
    except (ValueError, TypeError) as error:
        raise MarketoError("1003", "Invalid nextPageToken") from error


def _skipped(code: str, message: str) -> dict[str, Any]:
    return {"status": "skipped", "errors": [{"code": code, "message": message}]}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

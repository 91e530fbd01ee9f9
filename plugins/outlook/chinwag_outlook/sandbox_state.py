"""What the Microsoft sandbox remembers: app registration and tokens, mailboxes, events, mail, faults.

Kept apart from the HTTP layer (``sandbox.py``) so tests and the demo can set it up and inspect it
directly. Every method runs on the sandbox server's event loop or while it is idle.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import secrets
import uuid
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import attrs
from chinwag.sandbox import Fault, SandboxState  # noqa: F401 (Fault is importable from here, as before)

# Entra token errors: error -> (AADSTS code, description)
TOKEN_ERRORS = {
    "invalid_grant": (50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed."),
    "expired": (700082, "The refresh token has expired due to inactivity."),
    "interaction_required": (50076, "Due to a configuration change made by your administrator, or because you moved "
                                    "to a new location, you must use multi-factor authentication."),
    "consent_required": (65001, "The user or administrator has not consented to use the application."),
    "invalid_client": (7000215, "Invalid client secret provided."),
    "bad_code": (70000, "The provided value for the 'code' parameter is not valid."),
    "tenant_not_found": (90002, "Tenant not found. Check to make sure you have the correct tenant ID and are signing "
                                "into the correct cloud."),
}
# Our names for Entra errors -> the OAuth ``error`` Entra answers with
TOKEN_ERROR_CODES = {"expired": "invalid_grant", "bad_code": "invalid_grant", "tenant_not_found": "invalid_request"}
# HTTP status -> (Graph error code, message) for injected faults
FAULT_ERRORS = {
    401: ("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
    404: ("ErrorItemNotFound", "The specified object was not found in the store."),
    429: ("TooManyRequests", "Please retry again later."),
    500: ("generalException", "General exception while processing."),
    503: ("serviceNotAvailable", "Service Unavailable"),
}
AVAILABILITY_CODES = {"free": "0", "tentative": "1", "busy": "2", "oof": "3", "workingelsewhere": "4"}
AVAILABILITY_RANK = ["free", "workingelsewhere", "tentative", "busy", "oof"]  # what shows when items overlap


class GraphApiError(Exception):
    """An error the sandbox answers in Graph's shape ``{"error": {"code", "message", "innerError"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        return {"error": {"code": self.code, "message": self.message,
                          "innerError": {"date": now, "request-id": str(uuid.uuid4())}}}


def token_error(error: str) -> dict[str, Any]:
    """An Entra token endpoint error body (``error``, ``error_description``, ``error_codes``...)."""
    code, description = TOKEN_ERRORS[error]
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    return {"error": TOKEN_ERROR_CODES.get(error, error),
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {now}",
            "error_codes": [code], "timestamp": now, "trace_id": trace, "correlation_id": correlation}


@attrs.define
class GraphSandboxState(SandboxState):
    """In-memory Microsoft 365: one app registration, mailboxes by address, one calendar each."""

    code_prefix: ClassVar[str] = "M.sandbox-"
    access_token_prefix: ClassVar[str] = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.sandbox-"

    # Microsoft hands out a new refresh token on every refresh; here the old one then stops
    # working, so a client that forgets to store the new one finds out at once.
    strict_rotation: bool = True
    # The tenants (the ``{tenant}`` of the sign-in URLs) this Entra knows; others are not found.
    tenants: set[str] = attrs.field(factory=lambda: {"common", "organizations", "consumers"})
    busy: dict[str, list[tuple[dt.datetime, dt.datetime]]] = attrs.field(factory=dict)
    # Sign-in name -> its primary SMTP address, when the two differ (ada@contoso.onmicrosoft.com
    # reading mail as ada@contoso.com); ``/me`` shows both.
    mail_of: dict[str, str] = attrs.field(factory=dict)
    refused: dict[str, str] = attrs.field(factory=dict)  # refresh token -> token error to answer
    events: dict[str, dict[str, dict[str, Any]]] = attrs.field(factory=dict)  # mailbox -> id -> event
    transactions: dict[tuple[str, str], str] = attrs.field(factory=dict)  # (mailbox, transactionId) -> id
    notifications: list[dict[str, Any]] = attrs.field(factory=list)  # mail Outlook would have sent

    # -- OAuth -------------------------------------------------------------------------------------

    def issue_tokens(self, user: str) -> dict[str, Any]:
        """A fresh access and refresh token for ``user`` (the token endpoint's answer)."""
        user = user.lower()
        refresh_token = "0.sandbox-" + secrets.token_urlsafe(32)
        self.refresh_tokens[refresh_token] = user
        return {"token_type": "Bearer", "scope": "https://graph.microsoft.com/Calendars.ReadWrite",
                "expires_in": self.access_token_lifetime, "ext_expires_in": self.access_token_lifetime,
                "access_token": self.new_access_token(user), "refresh_token": refresh_token}

    def refresh(self, refresh_token: str) -> dict[str, Any] | str:
        """New tokens, including a new refresh token; or the name of the token error to answer."""
        if refresh_token in self.refused:
            return self.refused[refresh_token]
        user = self.refresh_tokens.get(refresh_token)
        if user is None:
            return "invalid_grant"
        if self.strict_rotation:
            del self.refresh_tokens[refresh_token]
        return self.issue_tokens(user)

    def revoke(self, refresh_token: str | None = None, user: str | None = None, error: str = "invalid_grant") -> None:
        """Refuse one refresh token, or all of a user's, with ``error`` (invalid_grant,
        interaction_required, consent_required, expired); their access tokens stop working."""
        for token, owner in list(self.refresh_tokens.items()):
            if token == refresh_token or owner == (user or "").lower():
                self.refused[token] = error
                self.access_tokens = {t: v for t, v in self.access_tokens.items() if v[0] != owner}

    def profile(self, user: str) -> dict[str, Any]:
        """The user as ``GET /me`` shows them."""
        user = user.lower()
        name = user.partition("@")[0].replace(".", " ").title()
        return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, user)), "displayName": name, "givenName": name.split()[0],
                "mail": self.mail_of.get(user, user), "userPrincipalName": user}

    # -- calendars ---------------------------------------------------------------------------------

    def add_busy(self, mailbox: str, start: dt.datetime, end: dt.datetime) -> None:
        """Block time in a mailbox's calendar, as if the agent had another meeting then."""
        self.busy.setdefault(mailbox.lower(), []).append((start, end))

    def knows(self, mailbox: str) -> bool:
        """Whether a mailbox exists: a user who signed in, or one with busy blocks or events."""
        mailbox = mailbox.lower()
        return mailbox in self.busy or mailbox in self.events or mailbox in self.refresh_tokens.values()

    def schedule_items(self, mailbox: str, start: dt.datetime, end: dt.datetime) -> list[tuple[str, dt.datetime, dt.datetime, str]]:
        """(status, start, end, subject) of items overlapping [start, end): events not cancelled, and busy blocks."""
        items = [("busy", s, e, "Busy") for s, e in self.busy.get(mailbox.lower(), [])]
        for event in self.events.get(mailbox.lower(), {}).values():
            if not event["isCancelled"] and event["showAs"] != "free":
                items.append((event["showAs"], utc_time(event["start"]), utc_time(event["end"]), event["subject"]))
        return sorted(item for item in items if item[1] < end and item[2] > start)

    def create_event(self, mailbox: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /events: store it and mail the invitations; a known ``transactionId`` returns the same event."""
        transaction = body.get("transactionId")
        if transaction and (mailbox, transaction) in self.transactions:
            return copy.deepcopy(self.events[mailbox][self.transactions[(mailbox, transaction)]])
        for field in ("start", "end"):
            if not isinstance(body.get(field), dict) or "dateTime" not in body[field]:
                raise GraphApiError(400, "ErrorInvalidRequest", f"The property '{field}' is required.")
        event_id = "AAMkAGsandbox" + base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=") + "AAA="
        now = _graph_timestamp()
        online = bool(body.get("isOnlineMeeting")) and body.get("onlineMeetingProvider") == "teamsForBusiness"
        event = {
            "@odata.etag": f'W/"{secrets.token_urlsafe(12)}"', "id": event_id, "createdDateTime": now,
            "lastModifiedDateTime": now, "changeKey": secrets.token_urlsafe(12),
            "iCalUId": "040000008200E00074C5B7101A82E008" + secrets.token_hex(32).upper(),
            "subject": body.get("subject", ""), "body": body.get("body", {"contentType": "text", "content": ""}),
            "start": utc_form(utc_time(body["start"])), "end": utc_form(utc_time(body["end"])),
            "attendees": [{**attendee, "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}}
                          for attendee in body.get("attendees", [])],
            "organizer": {"emailAddress": {"address": mailbox}}, "isOrganizer": True, "isCancelled": False,
            "showAs": body.get("showAs", "busy"), "type": "singleInstance",
            "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
            "webLink": f"https://outlook.office365.com/owa/?itemid={event_id}&exvsurl=1&path=/calendar/item",
            "isOnlineMeeting": online, "onlineMeetingProvider": "teamsForBusiness" if online else "unknown",
            "onlineMeeting": {"joinUrl": f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{secrets.token_urlsafe(16)}%40thread.v2/0",
                              "conferenceId": str(secrets.randbelow(10**9))} if online else None,
        }
        if transaction:
            event["transactionId"] = transaction
            self.transactions[(mailbox, transaction)] = event_id
        self.events.setdefault(mailbox, {})[event_id] = event
        self._notify("invitation", mailbox, event)
        return copy.deepcopy(event)

    def calendar_view(self, mailbox: str, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        """Copies of the live events overlapping [start, end), soonest first."""
        events = [event for event in self.events.get(mailbox.lower(), {}).values()
                  if not event["isCancelled"] and utc_time(event["start"]) < end and utc_time(event["end"]) > start]
        return [copy.deepcopy(event) for event in sorted(events, key=lambda event: utc_time(event["start"]))]

    def get_event(self, mailbox: str, event_id: str) -> dict[str, Any]:
        """GET /events/{id}."""
        return copy.deepcopy(self._event(mailbox, event_id))

    def update_event(self, mailbox: str, event_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """PATCH /events/{id}: given properties replace the old ones; a time change mails the attendees."""
        event = self._event(mailbox, event_id)
        if "transactionId" in changes and changes["transactionId"] != event.get("transactionId"):
            raise GraphApiError(400, "ErrorInvalidRequest", "transactionId cannot be changed.")
        before = (event["start"], event["end"])
        for key, value in changes.items():
            event[key] = utc_form(utc_time(value)) if key in ("start", "end") else value
        event["lastModifiedDateTime"], event["changeKey"] = _graph_timestamp(), secrets.token_urlsafe(12)
        if (event["start"], event["end"]) != before:
            self._notify("update", mailbox, event)
        return copy.deepcopy(event)

    def cancel_event(self, mailbox: str, event_id: str) -> None:
        """POST /events/{id}/cancel: mail the cancellation; the event leaves the calendar."""
        event = self._event(mailbox, event_id)
        event["isCancelled"] = True
        self._notify("cancellation", mailbox, event)

    def delete_event(self, mailbox: str, event_id: str) -> None:
        """DELETE /events/{id}: as cancel, without a message of the organizer's own."""
        self.cancel_event(mailbox, event_id)

    def _event(self, mailbox: str, event_id: str) -> dict[str, Any]:
        """A live event; cancelled ones went to Deleted Items and are not found."""
        event = self.events.get(mailbox, {}).get(event_id)
        if event is None or event["isCancelled"]:
            raise GraphApiError(404, *FAULT_ERRORS[404])
        return event

    def _notify(self, kind: str, mailbox: str, event: dict[str, Any]) -> None:
        to = [attendee["emailAddress"]["address"] for attendee in event["attendees"]]
        if to:
            self.notifications.append({"kind": kind, "mailbox": mailbox, "event_id": event["id"], "to": to,
                                       "subject": event["subject"], "start": event["start"], "end": event["end"]})


def utc_time(value: dict[str, Any]) -> dt.datetime:
    """The instant of a dateTimeTimeZone (IANA names and UTC; Windows names are not mapped here)."""
    moment = dt.datetime.fromisoformat(value["dateTime"])
    zone = value.get("timeZone", "UTC")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc if zone.upper() == "UTC" else ZoneInfo(zone))
    return moment.astimezone(dt.timezone.utc)


def utc_form(moment: dt.datetime, zone: str = "UTC") -> dict[str, str]:
    """A dateTimeTimeZone as Graph writes it: local time, seven fractional digits, no offset."""
    local = moment.astimezone(dt.timezone.utc if zone.upper() == "UTC" else ZoneInfo(zone))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": zone}


def availability_view(items: list[tuple[str, dt.datetime, dt.datetime, str]], start: dt.datetime,
                      end: dt.datetime, minutes: int) -> str:
    """One digit per interval: the strongest status of the items overlapping it."""
    step, view, moment = dt.timedelta(minutes=minutes), [], start
    while moment < end:
        statuses = [s.lower() for s, s_start, s_end, _ in items if s_start < moment + step and s_end > moment]
        strongest = max(statuses, key=lambda s: AVAILABILITY_RANK.index(s) if s in AVAILABILITY_RANK else 3, default="free")
        view.append(AVAILABILITY_CODES.get(strongest, "2"))
        moment += step
    return "".join(view)


def _graph_timestamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")

"""What the Google sandbox remembers: OAuth client and tokens, calendars, events, mail sent, faults.

Kept apart from the HTTP layer (``sandbox.py``) so tests and the demo can set it up and inspect it
directly. Every method runs on the sandbox server's event loop or while it is idle.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import secrets
import string
import time
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import attrs
from chinwag import sandbox

EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")

# reason -> (domain, message), from Google's Calendar API errors page
REASONS = {
    "authError": ("global", "Invalid Credentials"),
    "rateLimitExceeded": ("usageLimits", "Rate Limit Exceeded"),
    "userRateLimitExceeded": ("usageLimits", "User Rate Limit Exceeded"),
    "quotaExceeded": ("usageLimits", "Calendar usage limits exceeded."),
    "notFound": ("global", "Not Found"),
    "duplicate": ("global", "The requested identifier already exists."),
    "deleted": ("global", "Resource has been deleted"),
    "timeRangeEmpty": ("calendar", "The specified time range is empty."),
    "backendError": ("global", "Backend Error"),
    "invalid": ("global", "Invalid resource id value."),
    "required": ("global", "Required"),
}
DEFAULT_REASON = {401: "authError", 403: "rateLimitExceeded", 404: "notFound", 429: "rateLimitExceeded"}
CANONICAL_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                    409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class GoogleApiError(Exception):
    """An error the sandbox answers in Google's error body shape."""

    def __init__(self, code: int, reason: str | None = None, location: tuple[str, str] | None = None) -> None:
        self.code = code
        self.reason = reason or DEFAULT_REASON.get(code, "backendError")
        self.location = location
        super().__init__(f"{code} {self.reason}")

    def body(self) -> dict[str, Any]:
        """``{"error": {"code", "message", "errors": [{"domain", "reason", "message"}], "status"}}``."""
        domain, message = REASONS.get(self.reason, ("global", self.reason))
        detail: dict[str, Any] = {"domain": domain, "reason": self.reason, "message": message}
        if self.location:
            detail["locationType"], detail["location"] = self.location
        error: dict[str, Any] = {"code": self.code, "message": message, "errors": [detail]}
        if self.code in CANONICAL_STATUS:
            error["status"] = CANONICAL_STATUS[self.code]
        return {"error": error}


@attrs.define
class Fault(sandbox.Fault):
    """A ``chinwag.sandbox.Fault`` that may name the Google error ``reason`` to answer with."""

    reason: str | None = None


@attrs.define
class GoogleSandboxState(sandbox.SandboxState):
    """In-memory Google: one OAuth client, users by email, one calendar per user."""

    fault_class: ClassVar[type[sandbox.Fault]] = Fault
    code_prefix: ClassVar[str] = "4/sandbox-"
    access_token_prefix: ClassVar[str] = "ya29.sandbox-"

    conference_pending: bool = False  # Meet links appear on a later events.get, as Google may do
    unverified: set[str] = attrs.field(factory=set)  # accounts whose address Google has not verified
    busy: dict[str, list[tuple[dt.datetime, dt.datetime]]] = attrs.field(factory=dict)
    events: dict[str, dict[str, dict[str, Any]]] = attrs.field(factory=dict)  # calendar -> id -> event
    notifications: list[dict[str, Any]] = attrs.field(factory=list)  # mail Google would have sent

    # -- OAuth -------------------------------------------------------------------------------------

    def issue_tokens(self, user: str) -> dict[str, Any]:
        """A fresh refresh and access token for ``user`` (the token endpoint's answer)."""
        refresh_token = "1//sandbox-" + secrets.token_urlsafe(24)
        self.refresh_tokens[refresh_token] = user.lower()
        return {**self._access(user), "refresh_token": refresh_token}

    def refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """A new access token for a live refresh token (Google sends no new refresh token), or None."""
        user = self.refresh_tokens.get(refresh_token)
        return self._access(user) if user else None

    def _access(self, user: str) -> dict[str, Any]:
        return {"access_token": self.new_access_token(user), "expires_in": self.access_token_lifetime,
                "scope": "https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/calendar.freebusy",
                "token_type": "Bearer"}

    def revoke(self, refresh_token: str | None = None, user: str | None = None) -> None:
        """Revoke one refresh token, or all of a user's, and their access tokens (the user removed access)."""
        for token, owner in list(self.refresh_tokens.items()):
            if token == refresh_token or owner == (user or "").lower():
                del self.refresh_tokens[token]
                self.access_tokens = {t: v for t, v in self.access_tokens.items() if v[0] != owner}

    # -- calendars ---------------------------------------------------------------------------------

    def add_busy(self, calendar: str, start: dt.datetime, end: dt.datetime) -> None:
        """Block time on a calendar, as if the agent had another meeting then."""
        self.busy.setdefault(calendar.lower(), []).append((start, end))

    def knows(self, calendar: str) -> bool:
        """Whether a calendar exists: a user who connected, or one with busy blocks or events."""
        calendar = calendar.lower()
        return calendar in self.busy or calendar in self.events or calendar in self.refresh_tokens.values()

    def free_busy(self, calendar: str, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
        """Busy periods of opaque, confirmed events and busy blocks, clipped to [start, end)."""
        periods = list(self.busy.get(calendar.lower(), []))
        for event in self.events.get(calendar.lower(), {}).values():
            if event["status"] != "cancelled" and event.get("transparency", "opaque") == "opaque":
                periods.append((event_time(event["start"]), event_time(event["end"])))
        clipped = [(max(s, start), min(e, end)) for s, e in periods if s < end and e > start]
        return sorted(clipped)

    def insert_event(self, calendar: str, body: dict[str, Any], send_updates: str, conference: bool) -> dict[str, Any]:
        """events.insert: store the event, add Google's output fields, record the invitations sent."""
        events = self.events.setdefault(calendar, {})
        event_id = body.get("id") or _base32hex_id()
        if not EVENT_ID.match(event_id):
            raise GoogleApiError(400, "invalid")
        if event_id in events:
            raise GoogleApiError(409, "duplicate")
        for field in ("start", "end"):
            if field not in body:
                raise GoogleApiError(400, "required")
        if any(not attendee.get("email") for attendee in body.get("attendees", [])):
            raise GoogleApiError(400, "required")
        now = _timestamp()
        event = {
            **{k: v for k, v in body.items() if k != "conferenceData"},
            "kind": "calendar#event", "etag": f'"{time.time_ns()}"', "id": event_id, "status": "confirmed",
            "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}", "created": now, "updated": now,
            "creator": {"email": calendar, "self": True}, "organizer": {"email": calendar, "self": True},
            "iCalUID": f"{event_id}@google.com", "sequence": 0, "eventType": "default",
            "attendees": [{"email": calendar, "organizer": True, "self": True, "responseStatus": "accepted"},
                          *body.get("attendees", [])],
            "reminders": body.get("reminders", {"useDefault": True}),
        }
        request = body.get("conferenceData", {}).get("createRequest")
        if conference and request:
            event["conferenceData"] = {"createRequest": {**request, "status": {"statusCode": "pending"}}}
            if not self.conference_pending:
                _complete_conference(event)
        events[event_id] = event
        self._notify("invitation", calendar, event, send_updates)
        return copy.deepcopy(event)

    def get_event(self, calendar: str, event_id: str) -> dict[str, Any]:
        """events.get: cancelled events too; a pending conference finishes by now."""
        event = self._event(calendar, event_id)
        if event.get("conferenceData", {}).get("createRequest", {}).get("status", {}).get("statusCode") == "pending":
            _complete_conference(event)
        return copy.deepcopy(event)

    def patch_event(self, calendar: str, event_id: str, changes: dict[str, Any], send_updates: str) -> dict[str, Any]:
        """events.patch: objects merge, arrays replace; a time change bumps ``sequence``."""
        event = self._event(calendar, event_id)
        before = (event_time(event["start"]), event_time(event["end"]))
        _merge(event, {k: v for k, v in changes.items() if k not in ("id", "kind", "etag", "iCalUID")})
        if (event_time(event["start"]), event_time(event["end"])) != before:
            event["sequence"] += 1
        event["updated"], event["etag"] = _timestamp(), f'"{time.time_ns()}"'
        self._notify("update", calendar, event, send_updates)
        return copy.deepcopy(event)

    def delete_event(self, calendar: str, event_id: str, send_updates: str) -> None:
        """events.delete: the event stays readable with ``status: cancelled``; twice is 410."""
        event = self._event(calendar, event_id)
        if event["status"] == "cancelled":
            raise GoogleApiError(410, "deleted")
        event["status"], event["updated"] = "cancelled", _timestamp()
        event["sequence"] += 1
        self._notify("cancellation", calendar, event, send_updates)

    def _event(self, calendar: str, event_id: str) -> dict[str, Any]:
        try:
            return self.events[calendar][event_id]
        except KeyError:
            raise GoogleApiError(404, "notFound") from None

    def _notify(self, kind: str, calendar: str, event: dict[str, Any], send_updates: str) -> None:
        """Record the mail Google sends to guests: all of them for ``all``, none for ``none``."""
        if send_updates not in ("all", "externalOnly"):
            return
        guests = [a["email"] for a in event.get("attendees", []) if not a.get("organizer")]
        if send_updates == "externalOnly":
            domain = calendar.rpartition("@")[2]
            guests = [g for g in guests if not g.endswith("@" + domain)]
        if guests:
            self.notifications.append({"kind": kind, "calendar": calendar, "event_id": event["id"], "to": guests,
                                       "summary": event.get("summary"), "start": event["start"], "end": event["end"],
                                       "send_updates": send_updates})


def event_time(when: dict[str, Any]) -> dt.datetime:
    """The instant of an EventDateTime (``dateTime`` with offset, or local time plus ``timeZone``)."""
    if "date" in when:
        return dt.datetime.fromisoformat(when["date"]).replace(tzinfo=dt.timezone.utc)
    moment = dt.datetime.fromisoformat(when["dateTime"])
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(when.get("timeZone", "UTC")))
    return moment.astimezone(dt.timezone.utc)


def _complete_conference(event: dict[str, Any]) -> None:
    code = "-".join("".join(secrets.choice(string.ascii_lowercase) for _ in range(n)) for n in (3, 4, 3))
    uri = f"https://meet.google.com/{code}"
    conference = event["conferenceData"]
    conference["createRequest"]["status"] = {"statusCode": "success"}
    conference.update({
        "entryPoints": [{"entryPointType": "video", "uri": uri, "label": f"meet.google.com/{code}"}],
        "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
        "conferenceId": code,
    })
    event["hangoutLink"] = uri


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _base32hex_id() -> str:
    return "".join(secrets.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(26))


def _timestamp() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

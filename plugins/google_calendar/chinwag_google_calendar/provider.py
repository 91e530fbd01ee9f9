"""Google Calendar v3 over plain REST: OAuth2 tokens, freeBusy and events for one agent's calendar."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import html
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from chinwag.calendar_plugin import HttpCalendarProvider, response_json
from chinwag.calendars import (
    CalendarError, CreatedEvent, EventRequest, Grant, Interval, merge_intervals, split_range,
)

from .settings import GoogleSettings

if TYPE_CHECKING:
    from chinwag.app import Chinwag

# openid and email: the userinfo endpoint then says which account consented.
SCOPES = "openid email https://www.googleapis.com/auth/calendar.events https://www.googleapis.com/auth/calendar.freebusy"
RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
FREEBUSY_SPAN = dt.timedelta(days=60)  # Google refuses freeBusy ranges past about three months


class GoogleCalendarProvider(HttpCalendarProvider):
    """The ``google`` calendar provider (see ``chinwag.calendars.CalendarProvider``)."""

    name = "google"
    vendor, api_label, plugin_name = "Google", "Google Calendar", "google_calendar"

    settings: GoogleSettings

    @staticmethod
    def is_transient(response: httpx.Response) -> bool:
        """Google's retry rule: 5xx, 429, and 403 only for the rate-limit reasons."""
        return _is_transient(response)

    # -- connecting an agent -----------------------------------------------------------------------

    def authorization_url(self, app: Chinwag, state: str, redirect_uri: str, login_hint: str | None = None) -> str:
        """Google's consent page; ``prompt=consent`` makes Google hand out a refresh token every time,
        ``login_hint`` makes it suggest (or sign in) the expected account."""
        params = {
            "client_id": self._client_id(), "redirect_uri": redirect_uri, "response_type": "code",
            "scope": SCOPES, "access_type": "offline", "prompt": "consent", "state": state,
        }
        if login_hint:
            params["login_hint"] = login_hint
        return f"{self.settings.auth_url}?{urlencode(params)}"

    async def exchange_code(self, app: Chinwag, code: str, redirect_uri: str) -> dict[str, Any]:
        """Trade the consent page's code for tokens: access token, refresh token and ``expires_at``."""
        tokens = await self._token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})
        if not tokens.get("refresh_token"):
            raise CalendarError("Google returned no refresh token; remove chinwag's access in the Google account and connect again")
        return tokens

    async def account_emails(self, app: Chinwag, tokens: dict[str, Any]) -> list[str]:
        """The consenting account's address from Google's OpenID Connect userinfo endpoint, if verified."""
        info = await self._identity(self.settings.userinfo_url, tokens)
        email = str(info.get("email") or "").lower()
        if not email:
            raise CalendarError("Google's userinfo gave no email address: the consent must include the email scope")
        if info.get("email_verified") is False:
            raise CalendarError(f"the Google account {email} has not verified its address, so it cannot be trusted as anyone's calendar")
        return [email]

    # -- calendar calls ----------------------------------------------------------------------------

    async def busy(self, app: Chinwag, grant: Grant, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        """Busy intervals from freeBusy.query, merged and sorted; long ranges are asked in pieces."""
        intervals: list[Interval] = []
        for piece_start, piece_end in split_range(start, end, FREEBUSY_SPAN):
            body = {"timeMin": _rfc3339(piece_start), "timeMax": _rfc3339(piece_end), "timeZone": "UTC",
                    "items": [{"id": grant.calendar_id}]}
            response = await self._api(grant, "POST", "/freeBusy", json=body)
            if response.status_code != 200:
                raise _failure(response, "freeBusy")
            calendar = response.json().get("calendars", {}).get(grant.calendar_id, {})
            if calendar.get("errors"):
                reasons = ", ".join(error.get("reason", "?") for error in calendar["errors"])
                raise CalendarError(f"Google freeBusy for calendar {grant.calendar_id}: {reasons}")
            intervals += [Interval(_parse_time(b["start"]), _parse_time(b["end"])) for b in calendar.get("busy", [])]
        return merge_intervals(intervals)

    async def create_event(self, app: Chinwag, grant: Grant, event: EventRequest) -> CreatedEvent:
        """events.insert with the idempotency key as event id; a 409 duplicate means it already exists."""
        event_id = google_event_id(event.idempotency_key)
        params: dict[str, Any] = {"sendUpdates": "all"}
        if event.online_meeting:
            params["conferenceDataVersion"] = 1
        response = await self._api(grant, "POST", self._events_path(grant), params=params, json=_event_body(event_id, event))
        if response.status_code == 409 and _reason(response) == "duplicate":
            # An earlier attempt created it and its answer was lost: the existing event is ours.
            created = await self._get_event(grant, event_id)
        elif response.is_success:
            created = response.json()
        else:
            raise _failure(response, "creating the event")
        if event.online_meeting and _conference_pending(created):
            created = await self._await_conference(grant, created)
        return CreatedEvent(remote_id=created["id"], join_url=_join_url(created))

    async def cancel_event(self, app: Chinwag, grant: Grant, remote_id: str) -> None:
        """events.delete with ``sendUpdates=all``; an already deleted event (410) counts as cancelled."""
        response = await self._api(grant, "DELETE", self._events_path(grant, remote_id), params={"sendUpdates": "all"})
        if not response.is_success and response.status_code != 410:
            raise _failure(response, "cancelling the event")

    async def find_event(self, app: Chinwag, grant: Grant, idempotency_key: str, start: dt.datetime,
                         end: dt.datetime) -> str | None:
        """events.get of the id derived from the key: the event when it exists and is not cancelled."""
        event_id = google_event_id(idempotency_key)
        response = await self._api(grant, "GET", self._events_path(grant, event_id))
        if response.status_code in (404, 410):
            return None
        if response.status_code != 200:
            raise _failure(response, "looking for the event")
        return None if response.json().get("status") == "cancelled" else event_id

    async def move_event(self, app: Chinwag, grant: Grant, remote_id: str, start: dt.datetime, end: dt.datetime) -> None:
        """events.patch of start and end with ``sendUpdates=all``; the event keeps its time zone."""
        body = {"start": {"dateTime": _rfc3339(start)}, "end": {"dateTime": _rfc3339(end)}}
        response = await self._api(grant, "PATCH", self._events_path(grant, remote_id), params={"sendUpdates": "all"}, json=body)
        if not response.is_success:
            raise _failure(response, "moving the event")

    # -- plumbing ----------------------------------------------------------------------------------

    def _events_path(self, grant: Grant, event_id: str | None = None) -> str:
        path = f"/calendars/{quote(grant.calendar_id, safe='@')}/events"
        return f"{path}/{quote(event_id, safe='')}" if event_id else path

    async def _get_event(self, grant: Grant, event_id: str) -> dict[str, Any]:
        response = await self._api(grant, "GET", self._events_path(grant, event_id))
        if response.status_code != 200:
            raise _failure(response, "reading the event")
        return response.json()

    async def _await_conference(self, grant: Grant, event: dict[str, Any]) -> dict[str, Any]:
        """Poll events.get while Google is still creating the Meet conference (it is asynchronous)."""
        attempt = 0
        while _conference_pending(event):
            pause = self.settings.retry.delay(attempt)
            if pause is None:
                return event  # the event exists; the link will show in the agent's calendar later
            await asyncio.sleep(pause)
            event = await self._get_event(grant, event["id"])
            attempt += 1
        return event



def google_event_id(idempotency_key: str) -> str:
    """A valid Google event id (base32hex, 52 characters) derived from the key: same key, same id."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).digest()
    return base64.b32hexencode(digest).decode("ascii").rstrip("=").lower()


def html_description(text: str) -> str:
    """The invitation's plain text as the HTML Google Calendar reads ``description`` as: every
    character escaped (a visitor's ``<img ...>`` stays text), line breaks as ``<br>``."""
    return "<br>".join(html.escape(line, quote=False) for line in text.splitlines())


def _event_body(event_id: str, event: EventRequest) -> dict[str, Any]:
    try:
        zone = ZoneInfo(event.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise CalendarError(f"unknown time zone {event.time_zone!r}") from error
    attendee: dict[str, Any] = {"email": event.attendee_email, "responseStatus": "needsAction"}
    if event.attendee_name:
        attendee["displayName"] = event.attendee_name
    body: dict[str, Any] = {
        "id": event_id,
        "summary": event.summary,
        "description": html_description(event.description),
        "start": {"dateTime": event.start.astimezone(zone).isoformat(), "timeZone": event.time_zone},
        "end": {"dateTime": event.end.astimezone(zone).isoformat(), "timeZone": event.time_zone},
        "attendees": [attendee],
        "transparency": "opaque",
    }
    if event.online_meeting:
        body["conferenceData"] = {"createRequest": {"requestId": event_id, "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
    return body


def _is_transient(response: httpx.Response) -> bool:
    """Google's retry rule: 5xx, 429, and 403 only for the rate-limit reasons."""
    if response.status_code >= 500 or response.status_code == 429:
        return True
    return response.status_code == 403 and _reason(response) in RATE_LIMIT_REASONS


def _reason(response: httpx.Response) -> str | None:
    """``error.errors[0].reason`` of a Calendar API error body."""
    errors = response_json(response).get("error", {}).get("errors") or [{}]
    return errors[0].get("reason")


def _failure(response: httpx.Response, action: str) -> CalendarError:
    error = response_json(response).get("error", {})
    return CalendarError(f"Google Calendar refused {action}: HTTP {response.status_code} "
                         f"{_reason(response) or ''} {error.get('message', '')}".rstrip())


def _conference_pending(event: dict[str, Any]) -> bool:
    status = event.get("conferenceData", {}).get("createRequest", {}).get("status", {})
    return status.get("statusCode") == "pending"


def _join_url(event: dict[str, Any]) -> str | None:
    for entry in event.get("conferenceData", {}).get("entryPoints", []):
        if entry.get("entryPointType") == "video":
            return entry.get("uri")
    return event.get("hangoutLink")


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.timezone.utc)


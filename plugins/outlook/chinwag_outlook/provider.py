"""Outlook calendars through Microsoft Graph over plain REST: Entra tokens, getSchedule and events."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from chinwag.calendar_plugin import HttpCalendarProvider, response_json
from chinwag.calendars import (
    CalendarError, CreatedEvent, EventRequest, Grant, GrantRevoked, Interval, merge_intervals, split_range,
)

from .settings import OutlookSettings

if TYPE_CHECKING:
    from chinwag.app import Chinwag

# User.Read: ``/me`` then says which account signed in.
SCOPES = "offline_access https://graph.microsoft.com/User.Read https://graph.microsoft.com/Calendars.ReadWrite"
# Token errors that mean the agent's consent is gone or must be given again.
REVOKED_ERRORS = {"invalid_grant", "interaction_required", "consent_required"}
BUSY_STATUSES = {"busy", "oof", "tentative"}  # tentative too: a slot the agent may attend is not free
SELF = {"", "me", "primary"}  # calendar ids meaning "the signed-in agent's own calendar"
SCHEDULE_SPAN = dt.timedelta(days=60)  # getSchedule takes periods shorter than 62 days
UTC_ONLY = {"Prefer": 'outlook.timezone="UTC"'}  # answers in UTC: no Windows time zone names to map


class OutlookCalendarProvider(HttpCalendarProvider):
    """The ``outlook`` calendar provider (see ``chinwag.calendars.CalendarProvider``)."""

    name = "outlook"
    vendor, api_label, plugin_name = "Microsoft", "Microsoft Graph", "outlook"
    api_headers = UTC_ONLY
    refresh_form = {"scope": SCOPES}

    settings: OutlookSettings

    def is_token_transient(self, response: httpx.Response) -> bool:
        """Also Entra's ``temporarily_unavailable``."""
        return self.is_transient(response) or response_json(response).get("error") == "temporarily_unavailable"

    def token_error(self, error: str, description: str) -> CalendarError:
        """Entra's several ways of saying the consent is gone; only the first line of its description."""
        summary = description.splitlines()[0] if description else ""
        if error in REVOKED_ERRORS:
            return GrantRevoked(f"Microsoft refused the agent's authorization ({error}: {summary}): the agent must reconnect")
        return CalendarError(f"Microsoft token endpoint: {error}: {summary}")

    # -- connecting an agent -----------------------------------------------------------------------

    def authorization_url(self, app: Chinwag, state: str, redirect_uri: str, login_hint: str | None = None) -> str:
        """The Microsoft sign-in and consent page; ``offline_access`` yields a refresh token,
        ``login_hint`` pre-fills the expected account."""
        params = {"client_id": self._client_id(), "response_type": "code", "redirect_uri": redirect_uri,
                  "response_mode": "query", "scope": SCOPES, "state": state}
        if login_hint:
            params["login_hint"] = login_hint
        return f"{self.settings.auth_url}?{urlencode(params)}"

    async def exchange_code(self, app: Chinwag, code: str, redirect_uri: str) -> dict[str, Any]:
        """Trade the sign-in page's code for tokens: access token, refresh token and ``expires_at``."""
        tokens = await self._token_request({"grant_type": "authorization_code", "code": code,
                                            "redirect_uri": redirect_uri, "scope": SCOPES})
        if not tokens.get("refresh_token"):
            raise CalendarError("Microsoft returned no refresh token: the app registration must allow offline_access")
        return tokens

    async def account_emails(self, app: Chinwag, tokens: dict[str, Any]) -> list[str]:
        """The signed-in account's ``mail`` and ``userPrincipalName`` from Graph's ``/me``."""
        me = await self._identity(f"{self.settings.base_url}/me", tokens)
        return sorted({str(me[key]).lower() for key in ("mail", "userPrincipalName") if me.get(key)})

    # -- calendar calls ----------------------------------------------------------------------------

    async def busy(self, app: Chinwag, grant: Grant, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        """Busy, out-of-office and tentative items from getSchedule, merged and sorted."""
        schedule_id = grant.calendar_id if "@" in grant.calendar_id else grant.agent_email
        intervals: list[Interval] = []
        for piece_start, piece_end in split_range(start, end, SCHEDULE_SPAN):
            body = {"schedules": [schedule_id], "startTime": _graph_time(piece_start), "endTime": _graph_time(piece_end),
                    "availabilityViewInterval": 15}
            response = await self._api(grant, "POST", f"{_mailbox(grant)}/calendar/getSchedule", json=body)
            if response.status_code != 200:
                raise _failure(response, "reading free/busy")
            for schedule in response.json().get("value", []):
                if schedule.get("error"):
                    raise CalendarError(f"Microsoft Graph free/busy for {schedule_id}: "
                                        f"{schedule['error'].get('responseCode')}: {schedule['error'].get('message')}")
                intervals += [Interval(_parse_time(item["start"]), _parse_time(item["end"]))
                              for item in schedule.get("scheduleItems", [])
                              if str(item.get("status", "")).lower() in BUSY_STATUSES]
        return merge_intervals(intervals)

    async def create_event(self, app: Chinwag, grant: Grant, event: EventRequest) -> CreatedEvent:
        """Create the event (Outlook mails the invitation); ``transactionId`` makes retries safe."""
        response = await self._api(grant, "POST", f"{_mailbox(grant)}/events", json=_event_body(event))
        if not response.is_success:
            raise _failure(response, "creating the event")
        created = response.json()
        join_url = (created.get("onlineMeeting") or {}).get("joinUrl") if event.online_meeting else None
        return CreatedEvent(remote_id=created["id"], join_url=join_url)

    async def cancel_event(self, app: Chinwag, grant: Grant, remote_id: str) -> None:
        """Cancel as organizer, which mails the attendees; an event already gone (404) counts as cancelled."""
        path = f"{_mailbox(grant)}/events/{quote(remote_id, safe='')}/cancel"
        response = await self._api(grant, "POST", path, json={})
        if not response.is_success and response.status_code != 404:
            raise _failure(response, "cancelling the event")

    async def find_event(self, app: Chinwag, grant: Grant, idempotency_key: str, start: dt.datetime,
                         end: dt.datetime) -> str | None:
        """The calendar view of [start, end), page by page: the live event whose ``transactionId`` is the key."""
        params = {"startDateTime": _iso_utc(start), "endDateTime": _iso_utc(end),
                  "$select": "id,transactionId,isCancelled", "$top": "50"}
        path: str | None = f"{_mailbox(grant)}/calendarView?{urlencode(params)}"
        while path:
            response = await self._api(grant, "GET", path)
            if response.status_code != 200:
                raise _failure(response, "looking for the event")
            page = response.json()
            for event in page.get("value", []):
                if event.get("transactionId") == idempotency_key and not event.get("isCancelled"):
                    return event["id"]
            path = page.get("@odata.nextLink")
        return None

    async def move_event(self, app: Chinwag, grant: Grant, remote_id: str, start: dt.datetime, end: dt.datetime) -> None:
        """PATCH start and end; Outlook mails the update to the attendees."""
        body = {"start": _graph_time(start), "end": _graph_time(end)}
        response = await self._api(grant, "PATCH", f"{_mailbox(grant)}/events/{quote(remote_id, safe='')}", json=body)
        if not response.is_success:
            raise _failure(response, "moving the event")

    # -- plumbing ----------------------------------------------------------------------------------



def _mailbox(grant: Grant) -> str:
    """``/me`` for the signed-in agent, else ``/users/{id or userPrincipalName}``."""
    return "/me" if grant.calendar_id.lower() in SELF else f"/users/{quote(grant.calendar_id, safe='@')}"


def _event_body(event: EventRequest) -> dict[str, Any]:
    try:
        ZoneInfo(event.time_zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise CalendarError(f"unknown time zone {event.time_zone!r}") from error
    attendee: dict[str, Any] = {"emailAddress": {"address": event.attendee_email}, "type": "required"}
    if event.attendee_name:
        attendee["emailAddress"]["name"] = event.attendee_name
    body: dict[str, Any] = {
        "subject": event.summary,
        "body": {"contentType": "text", "content": event.description},
        # Sent in UTC: Graph's IANA support is partial, and each mail client shows its own zone anyway.
        "start": _graph_time(event.start),
        "end": _graph_time(event.end),
        "attendees": [attendee],
        "showAs": "busy",
        "transactionId": event.idempotency_key,
    }
    if event.online_meeting:
        body.update(isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness")
    return body


def _failure(response: httpx.Response, action: str) -> CalendarError:
    error = response_json(response).get("error", {})
    return CalendarError(f"Microsoft Graph refused {action}: HTTP {response.status_code} "
                         f"{error.get('code', '')} {error.get('message', '')}".rstrip())


def _graph_time(moment: dt.datetime) -> dict[str, str]:
    """A Graph dateTimeTimeZone in UTC."""
    return {"dateTime": moment.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(), "timeZone": "UTC"}


def _iso_utc(moment: dt.datetime) -> str:
    """An ISO 8601 instant with its offset, as calendarView's query takes it."""
    return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _parse_time(value: dict[str, str]) -> dt.datetime:
    """A Graph dateTimeTimeZone (no offset, up to 7 fractional digits) as an aware UTC datetime."""
    moment = dt.datetime.fromisoformat(value["dateTime"])
    zone = value.get("timeZone", "UTC")
    return moment.replace(tzinfo=dt.timezone.utc if zone.upper() == "UTC" else ZoneInfo(zone)).astimezone(dt.timezone.utc)


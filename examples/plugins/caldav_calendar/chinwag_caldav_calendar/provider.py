"""The CalDAV provider: chinwag's calendar contract (``chinwag.calendars.CalendarProvider``) over
CalDAV (RFC 4791), with the ``caldav`` library run in worker threads.

* free/busy: a ``free-busy-query`` REPORT on the agent's calendar;
* create: PUT of a VEVENT whose UID is derived from the booking's idempotency key; a UID the
  calendar has already is the same meeting, returned as it is (a retried booking never makes two);
* move: the event re-PUT with the new times and the next SEQUENCE; cancel: DELETE.

An agent's credentials (``username``, ``password``: an app password) come from the connect form
(``connect``); the agent's ``calendar`` setting is a calendar's URL or its path on the server, or
``me`` (the default) for the first calendar of the account.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode, urljoin

import caldav
from caldav.lib import error as dav_error
from chinwag.calendars import (CalendarError, CalendarUnavailable, CreatedEvent, EventRequest, Grant, GrantRevoked,
                               Interval)

from . import ical

Result = TypeVar("Result")
OWN_CALENDAR = ("", "me")


class CaldavProvider:
    """Calendars on one CalDAV server (``url``)."""

    name = "caldav"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.url = str(settings["url"]).rstrip("/") + "/"
        self.timeout = int(settings.get("timeout", 30))

    # -- connecting ---------------------------------------------------------------------------------

    def authorization_url(self, app: Any, state: str, redirect_uri: str, login_hint: str | None = None) -> str:
        """The connect form chinwag serves, where the agent gives their username and app password
        (the username filled in with ``login_hint``)."""
        query = {"state": state, "redirect_uri": redirect_uri, **({"login_hint": login_hint} if login_hint else {})}
        return f"{app.config.public_url}/caldav/connect?" + urlencode(query)

    async def exchange_code(self, app: Any, code: str, redirect_uri: str) -> dict[str, Any]:
        """The credentials the connect form sealed into ``code``."""
        from .connect import open_code

        return open_code(code)

    async def account_emails(self, app: Any, tokens: dict[str, Any]) -> list[str]:
        """The account's addresses: the ``mailto:`` ones of its calendar-user-address-set (RFC 6638),
        and its username when that is an email address."""
        username, password = str(tokens.get("username", "")), str(tokens.get("password", ""))

        def addresses() -> set[str]:
            principal = self._client(username, password).principal()
            try:
                listed = principal.calendar_user_address_set()
            except dav_error.DAVError:  # a server without RFC 6638 properties
                listed = []
            return {str(a)[7:].lower() for a in listed or [] if str(a).lower().startswith("mailto:")}

        found = await asyncio.to_thread(self._call_sync, addresses)
        if "@" in username:
            found.add(username.lower())
        return sorted(found)

    def check_login(self, username: str, password: str) -> None:
        """Raise ``GrantRevoked`` when the server refuses these credentials (blocking: run in a thread)."""
        self._call_sync(lambda: self._client(username, password).principal())

    # -- the contract --------------------------------------------------------------------------------

    async def busy(self, app: Any, grant: Grant, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        """Busy spans by a free-busy REPORT."""
        answer = await self._call(grant, lambda calendar: calendar.freebusy_request(start, end).data)
        return ical.busy_intervals(answer)

    async def create_event(self, app: Any, grant: Grant, event: EventRequest) -> CreatedEvent:
        """PUT the meeting under its UID, unless the calendar has that UID already."""
        uid = ical.uid_for(event.idempotency_key)

        def create(calendar: Any) -> CreatedEvent:
            if _by_uid(calendar, uid) is None:
                calendar.save_event(ical.meeting(event, grant.agent_email, _now()), increase_seqno=False)
            return CreatedEvent(uid)

        return await self._call(grant, create)

    async def find_event(self, app: Any, grant: Grant, idempotency_key: str, start: dt.datetime,
                         end: dt.datetime) -> str | None:
        """The live event made for ``idempotency_key`` (its UID comes from the key), or None."""
        uid = ical.uid_for(idempotency_key)

        def find(calendar: Any) -> str | None:
            existing = _by_uid(calendar, uid)
            if existing is None or str(existing.icalendar_component.get("status", "")).upper() == "CANCELLED":
                return None
            return uid

        return await self._call(grant, find)

    async def cancel_event(self, app: Any, grant: Grant, remote_id: str) -> None:
        """DELETE the event (gone already is fine)."""
        def cancel(calendar: Any) -> None:
            existing = _by_uid(calendar, remote_id)
            if existing is not None:
                existing.delete()

        await self._call(grant, cancel)

    async def move_event(self, app: Any, grant: Grant, remote_id: str, start: dt.datetime, end: dt.datetime) -> None:
        """Re-PUT the event with the new times."""
        def move(calendar: Any) -> None:
            existing = _by_uid(calendar, remote_id)
            if existing is None:
                raise CalendarError(f"no event {remote_id} in the agent's calendar")
            existing.data = ical.moved(existing.data, start, end, _now())
            existing.save(increase_seqno=False)  # ical.moved counts SEQUENCE itself

        await self._call(grant, move)

    # -- plumbing ---------------------------------------------------------------------------------------

    def _client(self, username: str, password: str) -> caldav.DAVClient:
        return caldav.DAVClient(url=self.url, username=username, password=password, timeout=self.timeout)

    def _calendar(self, grant: Grant) -> Any:
        client = self._client(str(grant.tokens.get("username", "")), str(grant.tokens.get("password", "")))
        if grant.calendar_id in OWN_CALENDAR:
            calendars = client.principal().calendars()
            if not calendars:
                raise CalendarError(f"{grant.agent_email} has no calendar on the CalDAV server")
            return calendars[0]
        return client.calendar(url=urljoin(self.url, grant.calendar_id))

    async def _call(self, grant: Grant, work: Callable[[Any], Result]) -> Result:
        return await asyncio.to_thread(self._call_sync, lambda: work(self._calendar(grant)))

    @staticmethod
    def _call_sync(work: Callable[[], Result]) -> Result:
        """Run ``work``, its errors as chinwag's: a refused login revokes the grant, the rest is an outage."""
        try:
            return work()
        except dav_error.AuthorizationError as error:
            raise GrantRevoked(f"the CalDAV server refused the agent's credentials: reconnect ({error.reason})") from error
        except CalendarError:
            raise
        except (dav_error.DAVError, OSError) as error:
            raise CalendarUnavailable(f"the CalDAV server did not answer usefully: {type(error).__name__}: "
                                      f"{str(error).splitlines()[0] if str(error) else ''}") from error


def _by_uid(calendar: Any, uid: str) -> Any:
    try:
        return calendar.event_by_uid(uid)
    except dav_error.NotFoundError:
        return None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)

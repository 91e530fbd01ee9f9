"""chinwag's calendar provider contract suite run against the CalDAV provider and a real Radicale.

Radicale cannot fail on demand and CalDAV has no OAuth tokens, so the suite's fault and token
tests do not apply; a revoked grant is a password the server no longer takes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import attrs
import pytest
from chinwag.calendars import Grant
from chinwag.testing_calendar import CalendarProviderContract
from chinwag_caldav_calendar import CaldavProvider
from caldav_support import PASSWORDS, Radicale

AGENT = "ada@example.com"


@attrs.define
class RadicaleRemote:
    """Radicale and the agent's calendar as the suite's ``CalendarRemote``."""

    radicale: Radicale
    calendar: object
    users: Path

    def add_busy(self, agent: str, start: dt.datetime, end: dt.datetime) -> None:
        """An appointment another calendar client made."""
        self.calendar.save_event(
            f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//other//EN\r\nBEGIN:VEVENT\r\nUID:own-{start:%H%M}\r\n"
            f"DTSTAMP:20270101T000000Z\r\nDTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDTEND:{end:%Y%m%dT%H%M%SZ}\r\n"
            f"SUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")

    def live_events(self, agent: str) -> list[str]:
        return [str(event.icalendar_component["uid"]) for event in self.calendar.events()]

    def revoke(self, agent: str) -> None:
        """The agent changed their app password: the stored one no longer works."""
        self.users.write_text("".join(f"{user}:{'changed-' + password if user == agent else password}\n"
                                      for user, password in PASSWORDS.items()))

    def fail_next(self, status: int, times: int = 1) -> None:
        raise NotImplementedError("Radicale cannot fail on demand")

    def lose_next_create_reply(self) -> None:
        raise NotImplementedError("Radicale cannot fail on demand")

    def fail_token_endpoint(self, status: int, times: int = 1) -> None:
        raise NotImplementedError("CalDAV has no token endpoint")

    def expire_access_tokens(self) -> None:
        raise NotImplementedError("CalDAV has no access tokens")

    def token_requests(self) -> list[str]:
        return []


class TestCaldavContract(CalendarProviderContract):
    """Busy times, a meeting once per key, cancel, move, and a revoked password."""

    agent = AGENT
    uses_tokens = False
    injects_faults = False

    @pytest.fixture
    def provider(self, radicale: Radicale) -> CaldavProvider:
        return CaldavProvider({"url": radicale.url})

    @pytest.fixture
    def grant(self, saved: list) -> Grant:
        return Grant(AGENT, "me", {"username": AGENT, "password": PASSWORDS[AGENT]})

    @pytest.fixture
    def remote(self, radicale: Radicale, tmp_path: Path) -> RadicaleRemote:
        return RadicaleRemote(radicale, radicale.make_calendar(AGENT), tmp_path / "radicale-users")

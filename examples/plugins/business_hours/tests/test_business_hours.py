"""Business hours: the attributes' values at given moments (time zones, holidays, closed dates,
daylight saving), bad settings named by their lines, and a real server whose dialogue for open
hours starts only while the team is open."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chinwag.app import Chinwag
from chinwag.attributes import LookupContext
from chinwag.problems import InvalidProject
from chinwag.testing import ScriptedVisitor, ServerThread, write_project
from chinwag_business_hours import team_open, team_opens_in
from chinwag_business_hours.hours import read_business_hours

CHINWAG = str(Path(sys.executable).with_name("chinwag"))
UTC = dt.timezone.utc
WEEK = {"monday": ["09:00-12:30", "13:30-17:30"], "tuesday": ["09:00-17:30"], "wednesday": ["09:00-17:30"],
        "thursday": ["09:00-17:30"], "friday": ["09:00-15:00"]}
ALL_WEEK = {day: ["00:00-24:00"] for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                             "sunday")}


def dialogue(dialogue_id: str, priority: int, open_now: bool | None) -> dict[str, Any]:
    """A one-message dialogue, for the team's open hours (True), closed hours (False) or anyone."""
    targeting = {} if open_now is None else {"audience": {"attribute": "team.open", "op": "is", "value": open_now}}
    return {"id": dialogue_id, "name": dialogue_id, "priority": priority, "targeting": targeting,
            "cards": [{"id": "hi", "type": "message", "text": f"{dialogue_id}: hello"}]}


def project(path: Path, **settings: Any) -> Path:
    """A project with a dialogue for open hours and one for closed hours."""
    return write_project(path, {"name": "hours", "response_delay": 0,
                                "plugins": {"business_hours": {"time_zone": "Europe/Berlin", "hours": WEEK,
                                                               **settings}}},
                         {"live": dialogue("live", 1, True), "later": dialogue("later", 2, False)})


def at(text: str) -> dt.datetime:
    """An aware moment from ISO 8601 with an offset."""
    moment = dt.datetime.fromisoformat(text)
    assert moment.tzinfo is not None
    return moment


def hours(**settings: Any) -> Any:
    found, problems = read_business_hours({"time_zone": "Europe/Berlin", "hours": WEEK, **settings})
    assert problems == [] and found is not None
    return found


def test_open_within_the_hours_on_the_teams_own_clock() -> None:
    berlin = hours()
    # Monday 1 June 2026; Berlin is UTC+2 in summer.
    assert not berlin.is_open(at("2026-06-01T06:59:59+00:00"))  # 08:59:59 in Berlin
    assert berlin.is_open(at("2026-06-01T07:00:00+00:00"))      # 09:00
    assert berlin.is_open(at("2026-06-01T10:29:00+00:00"))      # 12:29
    assert not berlin.is_open(at("2026-06-01T10:30:00+00:00"))  # 12:30: lunch
    assert berlin.is_open(at("2026-06-01T11:30:00+00:00"))      # 13:30
    assert not berlin.is_open(at("2026-06-01T15:30:00+00:00"))  # 17:30: closed
    assert berlin.is_open(at("2026-06-05T12:59:00+00:00"))      # Friday 14:59
    assert not berlin.is_open(at("2026-06-05T13:00:00+00:00"))  # Friday 15:00
    assert not berlin.is_open(at("2026-06-06T10:00:00+00:00"))  # Saturday: no hours
    # The same hours in New York: 20:00 in Berlin is 14:00 there.
    assert not berlin.is_open(at("2026-06-01T20:00:00+02:00"))
    assert hours(time_zone="America/New_York").is_open(at("2026-06-01T20:00:00+02:00"))


def test_public_holidays_of_the_country_and_its_subdivision_close_the_team() -> None:
    epiphany = at("2027-01-06T10:00:00+01:00")  # a Wednesday: a holiday in Bavaria, not in Berlin
    assert not hours(country="DE", subdivision="BY").is_open(epiphany)
    assert hours(country="DE", subdivision="BE").is_open(epiphany)
    assert hours().is_open(epiphany)  # no country: no public holidays
    christmas = at("2026-12-25T10:00:00+01:00")  # a Friday, a holiday in all Germany
    assert not hours(country="DE").is_open(christmas)
    assert hours(country="US").is_open(christmas - dt.timedelta(days=3))  # Tuesday the 22nd


def test_closed_dates_close_the_team_on_its_own_calendar() -> None:
    berlin = hours(closed_dates=[dt.date(2026, 12, 22), "2026-12-23"])
    assert not berlin.is_open(at("2026-12-22T10:00:00+01:00"))
    assert not berlin.is_open(at("2026-12-23T08:30:00+00:00"))  # 09:30 in Berlin
    assert berlin.is_open(at("2026-12-21T10:00:00+01:00"))
    # 23:30 UTC on the 21st is already the 22nd in Berlin: closed, though nobody works then anyway.
    assert berlin.next_opening(at("2026-12-21T23:30:00+00:00")) == at("2026-12-24T09:00:00+01:00")


def test_opens_in_counts_minutes_to_the_next_opening_across_holidays_and_clock_changes() -> None:
    berlin = hours(country="DE")
    assert berlin.minutes_until_open(at("2026-06-01T09:00:00+02:00")) == 0
    assert berlin.minutes_until_open(at("2026-06-01T12:45:00+02:00")) == 45  # back from lunch at 13:30
    assert berlin.minutes_until_open(at("2026-06-01T12:44:30+02:00")) == 46  # rounded up
    # Thursday 24 December, after hours: Christmas Friday, the weekend, then Monday 28th at 09:00.
    assert berlin.next_opening(at("2026-12-24T18:00:00+01:00")) == at("2026-12-28T09:00:00+01:00")
    assert berlin.minutes_until_open(at("2026-12-24T18:00:00+01:00")) == (3 * 24 + 15) * 60
    # New York moves its clocks forward on Sunday 14 March 2027: Saturday noon to Monday 09:00 is
    # 45 hours on the wall clock but 44 in fact.
    new_york = hours(time_zone="America/New_York")
    assert new_york.minutes_until_open(at("2027-03-13T12:00:00-05:00")) == 44 * 60
    assert new_york.next_opening(at("2027-03-13T12:00:00-05:00")).isoformat() == "2027-03-15T09:00:00-04:00"
    never = read_business_hours({"time_zone": "UTC", "hours": {"monday": []}})[0]
    assert never is not None and never.minutes_until_open(at("2026-06-01T09:00:00+00:00")) is None


async def test_the_registered_attributes_look_up_the_moment_they_are_given(tmp_path: Path) -> None:
    app = Chinwag.from_project(project(tmp_path / "p", country="DE"))
    assert (app.attributes["team.open"].type, app.attributes["team.opens_in"].type) == ("boolean", "number")
    assert not app.attributes["team.open"].writable
    context = LookupContext(visitor_id="v", lead={}, visit={}, app=app)
    assert await app.attributes["team.open"].lookup(context) in (True, False)  # the current time
    assert await team_open(context, now=at("2026-06-01T10:00:00+02:00")) is True
    assert await team_open(context, now=at("2026-12-25T10:00:00+01:00")) is False
    assert await team_opens_in(context, now=at("2026-12-25T10:00:00+01:00")) == (2 * 24 + 23) * 60


def test_without_settings_the_attributes_are_not_there_and_dialogues_naming_them_are_invalid(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "p", {"name": "hours"}, {"live": dialogue("live", 1, True)})
    with pytest.raises(InvalidProject) as raised:
        Chinwag.from_project(folder)
    assert "team.open" in str(raised.value)


def test_bad_settings_stop_validation_with_their_lines(tmp_path: Path) -> None:
    folder = project(tmp_path / "p")
    (folder / "chinwag.yaml").write_text(
        "name: hours\n"                                            # 1
        "plugins:\n"                                               # 2
        "  business_hours:\n"                                      # 3
        "    time_zone: Mars/Olympus\n"                            # 4
        "    hours:\n"                                             # 5
        '      monday: ["09:00-17:30"]\n'                          # 6
        '      funday: ["09:00-17:00"]\n'                          # 7
        "      friday:\n"                                          # 8
        '        - "09:00-12:00"\n'                                # 9
        '        - "17:00-09:00"\n'                                # 10
        "    country: DE\n"                                        # 11
        "    subdivision: ZZ\n"                                    # 12
        "    closed_dates:\n"                                      # 13
        "      - 2026-12-24\n"                                     # 14
        "      - 24.12.2026\n"                                     # 15
        "    opening: daily\n")                                    # 16
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHINWAG_")}
    result = subprocess.run([CHINWAG, "validate", str(folder)], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1, result.stdout
    for expected in ("chinwag.yaml:4: plugins.business_hours.time_zone: unknown time zone 'Mars/Olympus'",
                     "chinwag.yaml:7: plugins.business_hours.hours.funday: unknown weekday 'funday'",
                     "chinwag.yaml:10: plugins.business_hours.hours.friday[1]: '17:00-09:00' ends before it starts",
                     "chinwag.yaml:12: plugins.business_hours.subdivision: unknown subdivision 'ZZ' of DE",
                     "chinwag.yaml:15: plugins.business_hours.closed_dates[1]: '24.12.2026' is not a date",
                     "chinwag.yaml:16: plugins.business_hours.opening: unknown setting"):
        assert expected in result.stderr, result.stderr
    assert "chinwag.yaml:9:" not in result.stderr and "chinwag.yaml:14:" not in result.stderr


async def started(server: ServerThread) -> str | None:
    """The dialogue a new visitor is shown on the site's home page."""
    async with ScriptedVisitor(server, page_url="https://www.example.com/") as visitor:
        welcome = await visitor.connect()
        return welcome["dialogue"]["id"] if welcome["dialogue"] else None


async def test_the_dialogue_for_open_hours_starts_only_while_the_team_is_open(tmp_path: Path) -> None:
    # On the real clock: open around the clock, then closed around the clock by closed dates
    # (yesterday to tomorrow, so a midnight during the test changes nothing).
    today = dt.datetime.now(UTC).date()
    with ServerThread(project(tmp_path / "open", time_zone="UTC", hours=ALL_WEEK), demo=False) as server:
        assert await started(server) == "live"
    closed = [str(today + dt.timedelta(days=offset)) for offset in (-1, 0, 1)]
    with ServerThread(project(tmp_path / "closed", time_zone="UTC", hours=ALL_WEEK, closed_dates=closed),
                      demo=False) as server:
        assert await started(server) == "later"

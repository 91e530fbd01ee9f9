"""Availability: slots an agent offers, as a visitor sees them across time zones and DST."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from chinwag.calendars import Interval
from chinwag.scheduling import (
    AgentAvailability,
    Slot,
    UnionSlot,
    WeeklyBlock,
    by_local_date,
    free_slots,
    localize,
    union_slots,
)

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = dt.date(2026, 5, 4)  # an ordinary week, far from any DST change in Berlin


def every_day(start: str, end: str) -> list[WeeklyBlock]:
    return [WeeklyBlock(day, dt.time.fromisoformat(start), dt.time.fromisoformat(end)) for day in range(7)]


def at(zone: ZoneInfo, date: dt.date, clock: str, fold: int = 0) -> dt.datetime:
    return dt.datetime.combine(date, dt.time.fromisoformat(clock), tzinfo=zone).replace(fold=fold)


def local_starts(slots: list[Slot], zone: ZoneInfo, date: dt.date) -> list[str]:
    """The agent's clock reading at each slot start on ``date``."""
    starts = (slot.start.astimezone(zone) for slot in slots)
    return [start.strftime("%H:%M") for start in starts if start.date() == date]


def berlin_slots(blocks: list[WeeklyBlock], now: dt.datetime, busy: tuple[Interval, ...] | list[Interval] = (), **options) -> list[Slot]:
    return free_slots(AgentAvailability("Europe/Berlin", blocks, **options), busy, now)


@pytest.mark.parametrize(
    "zone_name, change_date, utc_nine_before, utc_nine_after",
    [
        ("Europe/Berlin", dt.date(2026, 3, 29), "08:00", "07:00"),
        ("Europe/Berlin", dt.date(2026, 10, 25), "07:00", "08:00"),
        ("America/New_York", dt.date(2026, 3, 8), "14:00", "13:00"),
        ("America/New_York", dt.date(2026, 11, 1), "13:00", "14:00"),
    ],
)
def test_working_hours_stay_local_across_dst_change(zone_name, change_date, utc_nine_before, utc_nine_after):
    zone = ZoneInfo(zone_name)
    availability = AgentAvailability(zone_name, every_day("09:00", "17:00"), duration=30, horizon_days=3)
    day_before = change_date - dt.timedelta(days=1)
    slots = free_slots(availability, [], at(zone, day_before, "00:00"))

    for date in (day_before, change_date, change_date + dt.timedelta(days=1)):
        assert local_starts(slots, zone, date)[0] == "09:00"
        assert local_starts(slots, zone, date)[-1] == "16:30"
        assert len(local_starts(slots, zone, date)) == 16
    first_utc = {slot.start.date(): slot.start.strftime("%H:%M") for slot in reversed(slots)}
    assert first_utc[day_before] == utc_nine_before
    assert first_utc[change_date] == utc_nine_after
    assert all(slot.start.utcoffset() == dt.timedelta(0) for slot in slots)


def test_block_across_spring_forward_gap_offers_only_real_time():
    sunday = dt.date(2026, 3, 29)  # Berlin clocks jump from 02:00 to 03:00
    slots = berlin_slots([WeeklyBlock(6, dt.time(1), dt.time(4))], at(BERLIN, sunday, "00:00"), duration=30, horizon_days=0)

    assert local_starts(slots, BERLIN, sunday) == ["01:00", "01:30", "03:00", "03:30"]
    assert [slot.start.strftime("%H:%M") for slot in slots] == ["00:00", "00:30", "01:00", "01:30"]


def test_block_starting_in_the_gap_opens_when_the_clocks_jump():
    sunday = dt.date(2026, 3, 8)  # New York clocks jump from 02:00 to 03:00
    new_york = ZoneInfo("America/New_York")
    availability = AgentAvailability("America/New_York", [WeeklyBlock(6, dt.time(2, 30), dt.time(4))], duration=30)
    slots = free_slots(availability, [], at(new_york, sunday, "00:00"))

    assert local_starts(slots, new_york, sunday) == ["03:00", "03:30"]
    assert slots[0].start == dt.datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_block_wholly_inside_the_gap_offers_nothing_that_night():
    sunday = dt.date(2026, 3, 29)
    slots = berlin_slots([WeeklyBlock(6, dt.time(2), dt.time(2, 45))], at(BERLIN, sunday, "00:00"), duration=15)

    assert local_starts(slots, BERLIN, sunday) == []
    assert local_starts(slots, BERLIN, sunday + dt.timedelta(days=7)) == ["02:00", "02:15", "02:30"]


def test_repeated_hour_offers_each_instant_once():
    sunday = dt.date(2026, 10, 25)  # Berlin clocks fall back from 03:00 to 02:00
    slots = berlin_slots([WeeklyBlock(6, dt.time(1), dt.time(4))], at(BERLIN, sunday, "00:00"), duration=60, slot_step=60, horizon_days=0)
    starts = [slot.start for slot in slots]

    assert len(set(starts)) == len(starts) == 4  # four real hours between 01:00 and 04:00
    assert all(later - earlier == dt.timedelta(hours=1) for earlier, later in zip(starts, starts[1:]))
    shown = [localize(slot, BERLIN).start for slot in slots]
    assert [start.strftime("%H:%M %Z") for start in shown] == ["01:00 CEST", "02:00 CEST", "02:00 CET", "03:00 CET"]


def test_block_inside_the_repeated_hour_means_its_first_occurrence():
    sunday = dt.date(2026, 10, 25)
    slots = berlin_slots([WeeklyBlock(6, dt.time(2), dt.time(2, 30))], at(BERLIN, sunday, "00:00"), duration=30)

    assert [slot.start for slot in slots if slot.start.date() == sunday] == [dt.datetime(2026, 10, 25, 0, 0, tzinfo=UTC)]


def test_visitor_far_west_sees_an_indian_morning_on_the_previous_evening():
    kolkata = ZoneInfo("Asia/Kolkata")
    availability = AgentAvailability("Asia/Kolkata", [WeeklyBlock(0, dt.time(9), dt.time(10))], duration=30)
    slots = free_slots(availability, [], at(kolkata, MONDAY, "00:00"))

    assert slots[0].start == dt.datetime(2026, 5, 4, 3, 30, tzinfo=UTC)  # +05:30
    days = by_local_date(slots, "America/Los_Angeles")
    sunday_evening = days[dt.date(2026, 5, 3)]
    assert [local.start.strftime("%H:%M") for local in sunday_evening] == ["20:30", "21:00"]
    assert sunday_evening[0].slot is slots[0]
    assert list(days) == [dt.date(2026, 5, 3), dt.date(2026, 5, 10), dt.date(2026, 5, 17)]  # horizon: 14 days on


def test_buffer_keeps_distance_after_and_before_existing_meetings():
    meeting = Interval(at(BERLIN, MONDAY, "10:00"), at(BERLIN, MONDAY, "11:00"))
    slots = berlin_slots(
        every_day("09:00", "13:00"), at(BERLIN, MONDAY, "07:00"), [meeting], duration=30, buffer_after=15, slot_step=15
    )

    assert local_starts(slots, BERLIN, MONDAY) == ["09:00", "09:15", "11:15", "11:30", "11:45", "12:00", "12:15", "12:30"]


def test_buffer_after_last_slot_may_pass_the_end_of_the_block():
    slots = berlin_slots(every_day("09:00", "10:00"), at(BERLIN, MONDAY, "07:00"), duration=30, buffer_after=30)

    assert local_starts(slots, BERLIN, MONDAY) == ["09:00", "09:30"]


def test_minimum_notice_and_now_push_the_first_slot_to_the_next_grid_point():
    now = at(BERLIN, MONDAY, "10:07")

    assert local_starts(berlin_slots(every_day("09:00", "13:00"), now), BERLIN, MONDAY)[0] == "10:30"
    with_notice = berlin_slots(every_day("09:00", "13:00"), now, minimum_notice=60)
    assert local_starts(with_notice, BERLIN, MONDAY)[0] == "11:30"
    with_a_day_notice = berlin_slots(every_day("09:00", "13:00"), now, minimum_notice=24 * 60)
    assert local_starts(with_a_day_notice, BERLIN, MONDAY) == []
    assert local_starts(with_a_day_notice, BERLIN, MONDAY + dt.timedelta(days=1))[0] == "10:30"


def test_horizon_counts_agent_local_days_from_today():
    now = at(BERLIN, MONDAY, "08:00")

    two_days = berlin_slots(every_day("09:00", "10:00"), now, horizon_days=2)
    assert sorted({slot.start.astimezone(BERLIN).date() for slot in two_days}) == [
        MONDAY,
        MONDAY + dt.timedelta(days=1),
        MONDAY + dt.timedelta(days=2),
    ]
    today_only = berlin_slots(every_day("09:00", "10:00"), now, horizon_days=0)
    assert local_starts(today_only, BERLIN, MONDAY) == ["09:00", "09:30"] and len(today_only) == 2


def test_several_blocks_a_day_leave_the_gap_between_them_closed():
    friday = MONDAY + dt.timedelta(days=4)
    blocks = [WeeklyBlock(4, dt.time(8), dt.time(12)), WeeklyBlock(4, dt.time(13), dt.time(17))]
    slots = berlin_slots(blocks, at(BERLIN, MONDAY, "07:00"), duration=60)
    starts = local_starts(slots, BERLIN, friday)

    assert starts[:1] + starts[6:9] + starts[-1:] == ["08:00", "11:00", "13:00", "13:30", "16:00"]
    assert not {"11:30", "12:00", "12:30"} & set(starts)
    assert local_starts(slots, BERLIN, MONDAY) == []  # no block on Mondays


def test_touching_blocks_join_so_a_meeting_may_span_both():
    blocks = [WeeklyBlock(0, dt.time(9), dt.time(12)), WeeklyBlock(0, dt.time(12), dt.time(13))]
    slots = berlin_slots(blocks, at(BERLIN, MONDAY, "07:00"), duration=60)

    assert "11:30" in local_starts(slots, BERLIN, MONDAY)


def test_slot_grid_is_anchored_at_the_block_start():
    busy = [Interval(at(BERLIN, MONDAY, "09:15"), at(BERLIN, MONDAY, "09:50"))]
    slots = berlin_slots([WeeklyBlock(0, dt.time(9, 15), dt.time(11, 15))], at(BERLIN, MONDAY, "07:00"), busy, duration=30)

    assert local_starts(slots, BERLIN, MONDAY) == ["10:15", "10:45"]


def test_busy_time_across_midnight_and_overlapping_events_in_any_zone_and_order():
    tuesday = MONDAY + dt.timedelta(days=1)
    busy = [
        Interval(at(BERLIN, tuesday, "09:30"), at(BERLIN, tuesday, "11:00")),
        Interval(dt.datetime(2026, 5, 4, 14, 0, tzinfo=UTC), dt.datetime(2026, 5, 5, 8, 0, tzinfo=UTC)),  # 16:00-10:00
        Interval(at(BERLIN, MONDAY, "16:30"), at(BERLIN, MONDAY, "17:30")),
    ]
    slots = berlin_slots(every_day("09:00", "18:00"), at(BERLIN, MONDAY, "07:00"), busy, duration=30)

    assert local_starts(slots, BERLIN, MONDAY)[-1] == "15:30"
    assert local_starts(slots, BERLIN, tuesday)[0] == "11:00"
    assert local_starts(slots, BERLIN, tuesday)[-1] == "17:30"


def test_block_ending_at_midnight_runs_to_the_end_of_the_day():
    slots = berlin_slots([WeeklyBlock(0, dt.time(22), dt.time(0))], at(BERLIN, MONDAY, "07:00"), duration=30)

    assert local_starts(slots, BERLIN, MONDAY) == ["22:00", "22:30", "23:00", "23:30"]


def test_union_offers_a_time_when_any_agent_is_free_and_names_them_in_queue_order():
    now = at(BERLIN, MONDAY, "07:00")
    per_agent = {
        "bo": berlin_slots([WeeklyBlock(0, dt.time(9, 30), dt.time(10, 30))], now, horizon_days=0),
        "ada": berlin_slots([WeeklyBlock(0, dt.time(9), dt.time(10))], now, horizon_days=0),
        "cy": [],
    }
    union = union_slots(per_agent)

    assert [(localize(slot, BERLIN).start.strftime("%H:%M"), slot.agents) for slot in union] == [
        ("09:00", ("ada",)),
        ("09:30", ("bo", "ada")),
        ("10:00", ("bo",)),
    ]
    assert isinstance(union[0], UnionSlot)
    assert by_local_date(union, "Asia/Kolkata")[MONDAY][1].slot.agents == ("bo", "ada")


def test_invalid_schedules_and_naive_now_are_refused():
    with pytest.raises(ValueError, match="before it starts"):
        WeeklyBlock(0, dt.time(17), dt.time(9))
    with pytest.raises(ValueError):
        WeeklyBlock(7, dt.time(9), dt.time(17))
    with pytest.raises(Exception, match="Mars/Olympus"):
        AgentAvailability("Mars/Olympus", every_day("09:00", "17:00"))
    with pytest.raises(ValueError, match="aware"):
        berlin_slots(every_day("09:00", "17:00"), dt.datetime(2026, 5, 4, 9, 0))

"""Bookable meeting slots from an agent's weekly availability and busy times. Pure: no I/O.

The pipeline follows what open-source schedulers do (Cal.com, Easy!Appointments):

1. Each weekly block becomes a concrete window on each date of the agent's own time zone, built
   from that date's wall clock, so 09:00-17:00 stays 09:00-17:00 local across DST changes.
2. Busy intervals (calendar free/busy plus our own bookings) are widened by the buffer and merged.
3. Windows minus busy, in one sweep over both sorted lists.
4. Slot starts walk each free piece on a grid anchored at its block's start, from
   ``now + minimum_notice`` on, while the whole meeting fits.

Decisions a caller should know:

- **Buffer.** ``buffer_after`` is quiet time after every meeting ("no one can book until 30 min
  after the scheduled end"). It holds for existing meetings and for the one being offered: a slot
  starts at least ``buffer_after`` after every busy interval ends and ends at least
  ``buffer_after`` before the next one starts, so two meetings are always that far apart whichever
  was booked first. Both are one rule: widen each busy interval by the buffer on both sides. The
  buffer separates meetings only; it need not fit in working hours, so a block's last slot may end
  exactly at the block's end.
- **Grid.** Starts lie on ``block start + k * step`` in absolute time. The default step is
  ``min(duration, 30)`` minutes: short meetings come back to back, longer ones may still start
  every half hour (a one-hour call can start at 10:30 when the 10:00 call ends at 10:20). Blocks
  that touch or overlap on a date join into one window on the first block's grid.
- **DST.** A block's ends are read on their own date. A wall time that does not exist (the
  spring-forward gap) means the instant the clocks jump; a wall time that occurs twice (the
  fall-back overlap) means its first occurrence. Start and end follow the same rule, so adjacent
  blocks stay adjacent; a block that lies wholly in a gap is empty. Since slots step in absolute
  time, none starts at a non-existent wall time and no instant is offered twice; in a repeated
  hour, two slots may read 02:00 on the agent's clock, told apart by their UTC offsets.
- **Horizon.** Slots are offered on the agent's dates from today to today + ``horizon_days``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping
from typing import Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from .calendars import Interval
from .time_zones import known_time_zone

UTC = dt.timezone.utc
MIDNIGHT = dt.time(0)


def _known_zone(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if known_time_zone(value) is None:  # a folder of the zone database ("Europe") is no zone either
        raise ZoneInfoNotFoundError(f"No time zone found with key {value}")


@attrs.frozen
class WeeklyBlock:
    """A stretch of the agent's week open for meetings, e.g. Friday 13:00-17:00 local.

    ``weekday`` counts from 0 = Monday. ``end`` may be 00:00 to mean the end of the day.
    """

    weekday: int = attrs.field(validator=attrs.validators.in_(range(7)))
    start: dt.time
    end: dt.time

    def __attrs_post_init__(self) -> None:
        if self.end != MIDNIGHT and self.end <= self.start:
            raise ValueError(f"block ends ({self.end}) before it starts ({self.start})")


@attrs.frozen
class AgentAvailability:
    """When an agent takes meetings: weekly blocks in their zone, and the meeting's shape.

    Durations are minutes. ``slot_step`` defaults to ``min(duration, 30)``; see the module notes.
    """

    time_zone: str = attrs.field(validator=_known_zone)  # IANA name, e.g. "Europe/Berlin"
    blocks: tuple[WeeklyBlock, ...] = attrs.field(converter=tuple)
    duration: int = attrs.field(default=30, validator=attrs.validators.gt(0))
    buffer_after: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    minimum_notice: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    horizon_days: int = attrs.field(default=14, validator=attrs.validators.ge(0))
    slot_step: int | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.gt(0)))

    @property
    def zone(self) -> ZoneInfo:
        """The agent's zone (zoneinfo caches instances by name)."""
        return ZoneInfo(self.time_zone)

    @property
    def step(self) -> int:
        """Minutes between two candidate slot starts."""
        return self.slot_step if self.slot_step is not None else min(self.duration, 30)


@attrs.frozen
class Slot:
    """A meeting time one agent can take; ``start`` and ``end`` are aware UTC datetimes."""

    start: dt.datetime
    end: dt.datetime


AgentKey = TypeVar("AgentKey", bound=Hashable)


@attrs.frozen
class UnionSlot(Generic[AgentKey]):
    """A meeting time at least one agent of a queue can take, and which agents can.

    ``agents`` keeps the order of the mapping given to ``union_slots`` (the round-robin order), so
    the booking layer picks the first free agent after the one who took the last meeting.
    """

    start: dt.datetime
    end: dt.datetime
    agents: tuple[AgentKey, ...]


@attrs.frozen
class _Window:
    """Available time on one agent's day, with the instant its slot grid is anchored at."""

    start: dt.datetime
    end: dt.datetime
    anchor: dt.datetime


def free_slots(availability: AgentAvailability, busy: Iterable[Interval], now: dt.datetime) -> list[Slot]:
    """Slots the agent can take, in time order, as of ``now`` (aware).

    ``busy`` holds everything that blocks the agent: the provider's free/busy answer and our own
    bookings, in any order, overlapping or not.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(UTC)
    windows = _windows(availability, now)
    if not windows:
        return []
    buffer = dt.timedelta(minutes=availability.buffer_after)
    blocked = _merged(
        (interval.start.astimezone(UTC) - buffer, interval.end.astimezone(UTC) + buffer) for interval in busy
    )
    earliest = now + dt.timedelta(minutes=availability.minimum_notice)
    duration = dt.timedelta(minutes=availability.duration)
    step = dt.timedelta(minutes=availability.step)

    slots: list[Slot] = []
    next_blocked = 0
    for window in windows:
        # Busy times that end before this window cannot touch any later window either.
        while next_blocked < len(blocked) and blocked[next_blocked][1] <= window.start:
            next_blocked += 1
        free_from = window.start
        index = next_blocked
        while free_from < window.end:
            if index < len(blocked) and blocked[index][0] < window.end:
                free_until = min(blocked[index][0], window.end)
                resume = blocked[index][1]
            else:
                free_until = resume = window.end
            _fill(slots, window.anchor, max(free_from, earliest), free_until, duration, step)
            free_from = max(free_from, resume)
            index += 1
    return slots


def union_slots(per_agent: Mapping[AgentKey, Iterable[Slot]]) -> list[UnionSlot[AgentKey]]:
    """Every slot at least one agent can take, in time order, each with the agents free for it.

    Pass ``per_agent`` in the queue's round-robin order; each ``UnionSlot.agents`` keeps it.
    """
    free_agents: dict[tuple[dt.datetime, dt.datetime], list[AgentKey]] = {}
    for agent, slots in per_agent.items():
        for slot in slots:
            free_agents.setdefault((slot.start, slot.end), []).append(agent)
    return [UnionSlot(start, end, tuple(agents)) for (start, end), agents in sorted(free_agents.items())]


class _Timed(Protocol):
    @property
    def start(self) -> dt.datetime: ...

    @property
    def end(self) -> dt.datetime: ...


TimedSlot = TypeVar("TimedSlot", bound=_Timed)


@attrs.frozen
class LocalSlot(Generic[TimedSlot]):
    """A slot as the visitor's clock shows it; ``slot`` is the original, booked by its UTC start."""

    start: dt.datetime
    end: dt.datetime
    slot: TimedSlot


def localize(slot: TimedSlot, time_zone: str | ZoneInfo) -> LocalSlot[TimedSlot]:
    """The slot in the visitor's zone (an IANA name or a ZoneInfo)."""
    zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    return LocalSlot(slot.start.astimezone(zone), slot.end.astimezone(zone), slot)


def by_local_date(slots: Iterable[TimedSlot], time_zone: str | ZoneInfo) -> dict[dt.date, list[LocalSlot[TimedSlot]]]:
    """Slots grouped by the visitor's local date of their start, for a day-by-day slot picker.

    Dates and the slots within each keep the input's order (time order from ``free_slots``).
    """
    zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    days: dict[dt.date, list[LocalSlot[TimedSlot]]] = {}
    for slot in slots:
        local = localize(slot, zone)
        days.setdefault(local.start.date(), []).append(local)
    return days


def _windows(availability: AgentAvailability, now: dt.datetime) -> list[_Window]:
    """The agent's blocks as UTC windows on each local date of the horizon, sorted and joined."""
    zone = availability.zone
    today = now.astimezone(zone).date()
    blocks_by_weekday: dict[int, list[WeeklyBlock]] = {}
    for block in sorted(availability.blocks, key=lambda block: block.start):
        blocks_by_weekday.setdefault(block.weekday, []).append(block)

    windows: list[_Window] = []
    for offset in range(availability.horizon_days + 1):
        date = today + dt.timedelta(days=offset)
        for block in blocks_by_weekday.get(date.weekday(), ()):
            start = _wall_clock_instant(date, block.start, zone)
            end_date = date + dt.timedelta(days=1) if block.end == MIDNIGHT else date
            end = _wall_clock_instant(end_date, block.end, zone)
            if start >= end:  # wholly inside a spring-forward gap
                continue
            if windows and start <= windows[-1].end:
                last = windows[-1]
                windows[-1] = _Window(last.start, max(last.end, end), last.anchor)
            else:
                windows.append(_Window(start, end, start))
    return windows


def _wall_clock_instant(date: dt.date, time: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant the agent's clock reads ``time`` on ``date``.

    Twice-read times give the first occurrence; never-read times (a gap) give the jump itself.
    """
    local = dt.datetime.combine(date, time, tzinfo=zone)  # fold=0: the first of a repeated time
    instant = local.astimezone(UTC)
    offset_before = local.utcoffset()
    offset_after = instant.astimezone(zone).utcoffset()
    if offset_after == offset_before:  # the clock reads ``time`` at ``instant``: no gap
        return instant
    # In a gap: the jump happens between the readings with the old and the new offset.
    jumped = int(instant.timestamp())  # read with the old offset: already past the jump
    not_yet = int(local.replace(fold=1).timestamp())  # read with the new offset: not yet at the jump
    while jumped - not_yet > 1:
        middle = (jumped + not_yet) // 2
        if dt.datetime.fromtimestamp(middle, zone).utcoffset() == offset_after:
            jumped = middle
        else:
            not_yet = middle
    return dt.datetime.fromtimestamp(jumped, UTC)


def _merged(intervals: Iterable[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """Sorted, non-overlapping intervals covering the same time; empty ones are dropped."""
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _fill(
    slots: list[Slot],
    anchor: dt.datetime,
    free_from: dt.datetime,
    free_until: dt.datetime,
    duration: dt.timedelta,
    step: dt.timedelta,
) -> None:
    """Append the grid slots that fit in [free_from, free_until)."""
    steps_to_first = max(0, -((anchor - free_from) // step))  # ceiling division
    start = anchor + steps_to_first * step
    while start + duration <= free_until:
        slots.append(Slot(start, start + duration))
        start += step

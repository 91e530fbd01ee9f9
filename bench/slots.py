"""How long slot computation takes for a queue of 20 agents over 14 days.

Run with ``python -m bench.slots``. Each agent works two blocks a weekday (09:00-12:00 and
13:00-17:00) in one of five zones and has 3-6 seeded-random meetings per working day. One
repetition computes every agent's free slots and their union, as the widget's slot picker needs.

The baseline is reading the same busy intervals into UTC and sorting them, the first step of any
sweep over this input, timed in the same run and interleaved with the cases: its ratio moves less
with a noisy machine than milliseconds do. A single agent is timed too, to show the queue's
cost grows with the number of agents and nothing worse.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import random
import statistics
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from chinwag.calendars import Interval
from chinwag.scheduling import AgentAvailability, WeeklyBlock, free_slots, union_slots

AGENTS = 20
HORIZON_DAYS = 14
REPETITIONS = 300
TARGET_MS = 20.0
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "America/Los_Angeles", "Europe/London")
UTC = dt.timezone.utc
NOW = dt.datetime(2026, 5, 4, 6, 0, tzinfo=UTC)  # a Monday morning in Europe
MEETING_MINUTES = (15, 30, 30, 30, 45, 60, 60, 90)


def queue() -> list[tuple[AgentAvailability, list[Interval]]]:
    """The agents' availabilities and their seeded-random busy lists."""
    rng = random.Random(2026)
    blocks = [WeeklyBlock(day, start, end) for day in range(5) for start, end in ((dt.time(9), dt.time(12)), (dt.time(13), dt.time(17)))]
    agents = []
    for number in range(AGENTS):
        time_zone = ZONES[number % len(ZONES)]
        availability = AgentAvailability(time_zone, blocks, duration=30, buffer_after=10, minimum_notice=120, horizon_days=HORIZON_DAYS)
        agents.append((availability, _busy(rng, ZoneInfo(time_zone))))
    return agents


def _busy(rng: random.Random, zone: ZoneInfo) -> list[Interval]:
    """3-6 meetings on each working day, starting on a quarter hour between 08:00 and 18:00 local."""
    busy = []
    first_day = NOW.astimezone(zone).date()
    for offset in range(HORIZON_DAYS + 1):
        date = first_day + dt.timedelta(days=offset)
        if date.weekday() >= 5:
            continue
        for _ in range(rng.randint(3, 6)):
            start = dt.datetime.combine(date, dt.time(8), tzinfo=zone) + dt.timedelta(minutes=15 * rng.randrange(40))
            busy.append(Interval(start, start + dt.timedelta(minutes=rng.choice(MEETING_MINUTES))))
    rng.shuffle(busy)  # providers return events in their own order
    return busy


def _timings_ms(cases: dict[str, Callable[[], object]], repetitions: int) -> dict[str, list[float]]:
    """Milliseconds per run of each case; cases take turns so a burst of noise hits them all."""
    for work in cases.values():
        for _ in range(10):  # warm caches (zoneinfo, allocator) before measuring
            work()
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repetitions):
        for name, work in cases.items():
            started = time.perf_counter()
            work()
            timings[name].append((time.perf_counter() - started) * 1000)
    return timings


def _median_p95(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[math.ceil(0.95 * len(ordered)) - 1]


def run(repetitions: int = REPETITIONS) -> dict[str, object]:
    """Time the queue, one agent and the baseline; return the figures in milliseconds."""
    agents = queue()
    all_busy = [interval for _, busy in agents for interval in busy]

    def whole_queue() -> object:
        return union_slots({number: free_slots(availability, busy, NOW) for number, (availability, busy) in enumerate(agents)})

    def one_agent() -> object:
        return free_slots(agents[0][0], agents[0][1], NOW)

    def baseline() -> object:
        return sorted((interval.start.astimezone(UTC), interval.end.astimezone(UTC)) for interval in all_busy)

    gc.collect()
    figures: dict[str, object] = {
        "agents": AGENTS,
        "horizon_days": HORIZON_DAYS,
        "busy_intervals": len(all_busy),
        "slots": sum(len(free_slots(availability, busy, NOW)) for availability, busy in agents),
        "union_slots": len(whole_queue()),  # type: ignore[arg-type]
        "repetitions": repetitions,
        "target_ms": TARGET_MS,
    }
    timings = _timings_ms({"baseline": baseline, "one_agent": one_agent, "queue": whole_queue}, repetitions)
    for name, case_timings in timings.items():
        median, p95 = _median_p95(case_timings)
        figures[f"{name}_median_ms"], figures[f"{name}_p95_ms"] = median, p95
    figures["ratio_to_baseline"] = figures["queue_median_ms"] / figures["baseline_median_ms"]  # type: ignore[operator]
    figures["target_met"] = figures["queue_p95_ms"] <= TARGET_MS  # type: ignore[operator]
    return figures


def main() -> None:
    """Print the figures as a small table."""
    figures = run()
    print(
        f"slots: {figures['agents']} agents, {figures['horizon_days']} days, {figures['busy_intervals']} busy intervals, "
        f"{figures['slots']} agent slots, {figures['union_slots']} union slots, {figures['repetitions']} repetitions"
    )
    print(f"{'case':<40}{'median ms':>11}{'p95 ms':>9}{'x baseline':>12}")
    baseline = figures["baseline_median_ms"]
    for name, label in (
        ("baseline", "baseline: busy intervals to UTC, sorted"),
        ("one_agent", "free_slots, 1 agent"),
        ("queue", "free_slots x 20 + union_slots"),
    ):
        median, p95 = figures[f"{name}_median_ms"], figures[f"{name}_p95_ms"]
        print(f"{label:<40}{median:>11.3f}{p95:>9.3f}{median / baseline:>12.1f}")  # type: ignore[operator]
    verdict = "met" if figures["target_met"] else "NOT met"
    print(f"target: p95 of the queue under {figures['target_ms']:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()

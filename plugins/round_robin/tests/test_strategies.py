"""The three strategies' orderings, given the pointer, the free agents and the period's counts."""

from __future__ import annotations

import datetime as dt
from importlib import metadata

from chinwag.meetings.routing import RoutingContext
from chinwag_round_robin import FewestMeetings, RoundRobin, Weighted

QUEUE = ("a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com")


def context(last: str | None, free=QUEUE, counts=None, weights=None) -> RoutingContext:
    async def meetings_since(_: dt.datetime | None) -> dict[str, int]:
        return dict(counts or {})

    return RoutingContext(queue="q", agents=QUEUE, candidates=tuple(free), last_agent=last,
                          weights=weights or {}, period_start=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc),
                          meetings_since=meetings_since)


def test_installed_as_a_chinwag_plugin() -> None:
    entry_points = {e.name: e.value for e in metadata.entry_points(group="chinwag")}
    assert entry_points["round_robin"] == "chinwag_round_robin"


async def test_round_robin_starts_after_the_last_taker_and_wraps() -> None:
    assert await RoundRobin().choose(context("c@x.com")) == ["d@x.com", "e@x.com", "a@x.com", "b@x.com", "c@x.com"]
    assert (await RoundRobin().choose(context(None)))[0] == "a@x.com"


async def test_round_robin_passes_over_agents_busy_then() -> None:
    assert await RoundRobin().choose(context("c@x.com", free=("b@x.com", "e@x.com"))) == ["e@x.com", "b@x.com"]


async def test_weighted_follows_weights_then_rotation() -> None:
    weights = {"a@x.com": 2, "b@x.com": 1}
    two = context("b@x.com", free=("a@x.com", "b@x.com"), counts={"a@x.com": 1, "b@x.com": 1}, weights=weights)
    assert await Weighted().choose(two) == ["a@x.com", "b@x.com"]  # a is at 1 of 2 shares
    even = context("a@x.com", free=("a@x.com", "b@x.com"), counts={"a@x.com": 3, "b@x.com": 1}, weights=weights)
    assert await Weighted().choose(even) == ["b@x.com", "a@x.com"]  # equal standing: b is next in turn


async def test_fewest_meetings_first_ties_in_rotation_order() -> None:
    counts = {"a@x.com": 2, "b@x.com": 0, "c@x.com": 1, "d@x.com": 0, "e@x.com": 0}
    assert await FewestMeetings().choose(context("d@x.com", counts=counts)) == [
        "e@x.com", "b@x.com", "d@x.com", "c@x.com", "a@x.com"]

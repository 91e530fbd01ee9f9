"""A limit on calls to a remote API holds across processes: two stores (as two processes would
have) share one database, and together never start more calls per period, or hold more at
once, than the limiter allows."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from chinwag.shared_limits import LimiterBusy, SharedLimiter, metadata
from chinwag.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'limits.db'}"
    return str(request.getfixturevalue("postgres_url"))


async def two_stores(url: str) -> list[Store]:
    stores = [Store(url, metadata), Store(url, metadata)]
    await stores[0].create_schema()
    return stores


async def test_two_processes_together_stay_under_the_rate_and_the_concurrency(database_url: str) -> None:
    stores = await two_stores(database_url)
    try:
        limiters = [SharedLimiter(store, "vendor", calls=12, per_seconds=1.0, concurrency=3) for store in stores]
        starts: list[float] = []
        in_flight, most_in_flight = 0, 0

        async def one_call(limiter: SharedLimiter) -> None:
            nonlocal in_flight, most_in_flight
            async with limiter.call():
                starts.append(time.monotonic())
                in_flight += 1
                most_in_flight = max(most_in_flight, in_flight)
                await asyncio.sleep(0.03)
                in_flight -= 1

        began = time.monotonic()
        await asyncio.gather(*(one_call(limiters[n % 2]) for n in range(40)))
        took = time.monotonic() - began
    finally:
        for store in stores:
            await store.close()
    assert len(starts) == 40
    assert most_in_flight <= 3
    starts.sort()
    busiest = max(sum(1 for other in starts if start <= other < start + 1.0) for start in starts)
    assert busiest <= 12, f"{busiest} calls started within one second"
    assert took >= 2.0  # 40 calls at 12 per second cannot take less than three windows


async def test_a_slot_held_by_a_dead_process_frees_itself_when_it_expires(database_url: str) -> None:
    stores = await two_stores(database_url)
    try:
        dead = SharedLimiter(stores[0], "vendor", calls=100, per_seconds=1.0, concurrency=1, call_timeout=0.5)
        await dead._acquire()  # taken and never given back, as by a process killed mid-call
        alive = SharedLimiter(stores[1], "vendor", calls=100, per_seconds=1.0, concurrency=1)
        began = time.monotonic()
        async with alive.call():
            waited = time.monotonic() - began
        assert 0.3 <= waited < 3
        assert await alive.calls_in_window() == 2
    finally:
        for store in stores:
            await store.close()


def test_a_limiter_without_room_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one call"):
        SharedLimiter(Any, "vendor", calls=0, per_seconds=20, concurrency=1)  # type: ignore[arg-type]


async def test_a_call_that_must_not_wait_is_refused_when_there_is_no_room(database_url: str) -> None:
    stores = await two_stores(database_url)
    try:
        limiter = SharedLimiter(stores[0], "vendor", calls=2, per_seconds=5.0, concurrency=5)
        other_process = SharedLimiter(stores[1], "vendor", calls=2, per_seconds=5.0, concurrency=5)
        async with limiter.call(wait=False), other_process.call(wait=False):
            pass
        began = time.monotonic()
        with pytest.raises(LimiterBusy, match="vendor: no call may start for"):
            async with limiter.call(wait=False):
                pass
        assert time.monotonic() - began < 1  # refused at once, not after waiting
        assert await limiter.calls_in_window() == 2 and await limiter.calls_today() == 2
    finally:
        for store in stores:
            await store.close()

"""The outbox: every queued item reaches a real HTTP receiver once, in order per lead, whatever fails.

The receiver (``outbox_support``) is a careful remote: it applies each key at most once and
records every request, so the tests can tell "sent twice" from "applied twice".
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import sqlalchemy as sa
from chinwag.outbox import (OutboxItem, PauseDelivery, RetryLater, enqueue, enqueue_sync, list_items, outbox,
                            outbox_consumers, outbox_metadata, outbox_row, requeue, resume, summary)
from chinwag.outbox_worker import OutboxPolicy, OutboxWorker
from chinwag.store import Store, utc, utcnow
from outbox_support import Receiver, ReceiverConsumer, ReceiverState, serve_receiver

FAST = OutboxPolicy(base_delay=0.01, max_delay=0.05, lease_seconds=2.0, poll_interval=0.01)
WORKER_SCRIPT = Path(__file__).parent / "outbox_support.py"
LEADS = ("ann", "bob", "cy")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    return request.getfixturevalue("postgres_url")


async def open_store(url: str) -> Store:
    """A store whose database has the outbox tables, copied into the app's metadata as the app does."""
    app_metadata = sa.MetaData()
    for table in outbox_metadata.tables.values():
        table.to_metadata(app_metadata)
    store = Store(url, app_metadata)
    await store.create_schema()
    return store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await open_store(database_url)
    yield opened
    await opened.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = serve_receiver()
    yield server
    server.state.released.set()
    server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as opened:
        yield opened


async def queue_events(store: Store, consumer: str, leads: Sequence[str] = LEADS, per_lead: int = 4) -> list[str]:
    """Queue ``per_lead`` events for each lead, the leads interleaved as visitors' turns are; return the keys."""
    rows = [outbox_row(consumer, f"{consumer}-{lead}-{seq}", "lead.updated", {"lead": lead, "seq": seq}, lead, utcnow())
            for seq in range(per_lead) for lead in leads]
    async with store.transaction() as connection:
        await enqueue(connection, rows)
    return [row["key"] for row in rows]


async def outbox_rows(store: Store, consumer: str | None = None) -> list[Any]:
    query = sa.select(outbox).order_by(outbox.c.id)
    if consumer is not None:
        query = query.where(outbox.c.consumer == consumer)
    async with store.connect() as connection:
        return list(await connection.execute(query))


async def nothing_pending(store: Store) -> bool:
    return all(row.state != "pending" for row in await outbox_rows(store))


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still waiting after {timeout} s")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(*workers: OutboxWorker) -> AsyncIterator[None]:
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            await worker.stop()


def assert_order_kept(applied: list[dict[str, Any]]) -> None:
    """Each lead's events were applied in the order they were queued, none missing."""
    by_lead = collections.defaultdict(list)
    for payload in applied:
        by_lead[payload["lead"]].append(payload["seq"])
    for lead, seqs in by_lead.items():
        assert seqs == list(range(len(seqs))), f"{lead}'s events applied in the order {seqs}"


def applied_once_each(state: ReceiverState, consumer: str, keys: list[str]) -> bool:
    return sorted(state.applied[consumer]) == sorted(keys) and len(state.applied_order[consumer]) == len(keys)


def worker_for(store: Store, client: httpx.AsyncClient, receiver: Receiver,
               policy: OutboxPolicy = FAST, batch_size: int = 10, owner: str | None = None) -> OutboxWorker:
    consumer = ReceiverConsumer("crm", receiver.url, client, batch_size=batch_size, sender=owner or "")
    return OutboxWorker(store, {"crm": consumer}, policy, owner=owner)


# -- delivery --------------------------------------------------------------------------------------

async def test_an_outage_delays_deliveries_but_each_arrives_once_in_order(store: Store, receiver: Receiver,
                                                                          client: httpx.AsyncClient) -> None:
    keys = await queue_events(store, "crm", per_lead=6)
    receiver.state.fail_next(503, times=3)
    async with running(worker_for(store, client, receiver, batch_size=5)):
        await wait_until(lambda: nothing_pending(store))
    state = receiver.state
    assert [request.status for request in state.requests[:3]] == [503, 503, 503]
    answered = collections.Counter(key for request in state.requests if request.status == 200 for key in request.keys)
    assert answered == collections.Counter(keys), "every key sent and answered exactly once after the outage"
    assert applied_once_each(state, "crm", keys)
    assert_order_kept(state.applied_order["crm"])
    rows = await outbox_rows(store)
    assert [row.state for row in rows] == ["delivered"] * 18
    assert [row.attempts for row in rows] == [4] * 5 + [1] * 13  # the first batch met the outage three times
    assert all(row.last_error is None and row.delivered_at is not None for row in rows)
    assert (await summary(store))["crm"]["failures"] == 0


async def test_a_refused_record_is_skipped_with_the_reason_and_can_be_requeued(store: Store, receiver: Receiver,
                                                                               client: httpx.AsyncClient) -> None:
    keys = await queue_events(store, "crm", per_lead=2)
    receiver.state.refused[keys[1]] = "email address is invalid"
    worker = worker_for(store, client, receiver)
    assert await worker.run_once() == 6
    [refused] = await list_items(store, state="skipped")
    assert (refused.key, refused.last_error, refused.attempts) == (keys[1], "email address is invalid", 1)
    assert sorted(receiver.state.applied["crm"]) == sorted(keys[:1] + keys[2:])
    assert (await summary(store))["crm"].items() >= {"delivered": 5, "skipped": 1, "pending": 0}.items()

    del receiver.state.refused[keys[1]]  # the visitor's address was corrected in the CRM
    assert await requeue(store, [refused.id]) == 1
    [again] = await list_items(store, state="pending")
    assert (again.id, again.attempts, again.last_error) == (refused.id, 0, None)
    assert await worker.run_once() == 1
    assert applied_once_each(receiver.state, "crm", keys)
    assert receiver.state.times_sent("crm")[keys[1]] == 2 and not await list_items(store, state="skipped")


async def test_items_die_after_max_attempts_and_requeued_dead_items_go_out(store: Store, receiver: Receiver,
                                                                           client: httpx.AsyncClient) -> None:
    keys = await queue_events(store, "crm", per_lead=1)
    receiver.state.fail_next(503, times=1000)
    async with running(worker_for(store, client, receiver, policy=attrs.evolve(FAST, max_attempts=3))):
        await wait_until(lambda: nothing_pending(store))
    rows = await outbox_rows(store)
    assert [(row.state, row.attempts, row.last_error) for row in rows] == [("dead", 3, "receiver answered 503")] * 3
    assert len(receiver.state.requests) == 3, "a dead item is not sent again"
    assert (await summary(store))["crm"]["dead"] == 3

    receiver.state.faults.clear()
    assert await requeue(store, dead=True) == 3
    assert (await summary(store))["crm"].items() >= {"pending": 3, "dead": 0, "failures": 0, "retry_at": None}.items()
    async with running(worker_for(store, client, receiver)):
        await wait_until(lambda: nothing_pending(store))
    assert applied_once_each(receiver.state, "crm", keys)
    assert [(row.state, row.attempts) for row in await outbox_rows(store)] == [("delivered", 1)] * 3


async def test_a_spent_quota_pauses_delivery_until_it_resets(store: Store, receiver: Receiver,
                                                             client: httpx.AsyncClient) -> None:
    quota_resets = utcnow() + dt.timedelta(seconds=0.8)
    receiver.state.quota_until = quota_resets
    keys = await queue_events(store, "crm", per_lead=2)
    async with running(worker_for(store, client, receiver)):
        async def paused() -> bool:
            return (await summary(store))["crm"]["paused_until"] is not None

        await wait_until(paused)
        crm = (await summary(store))["crm"]
        assert (crm["paused_until"], crm["pause_reason"]) == (quota_resets.isoformat(), "quota exceeded")
        assert [row.attempts for row in await outbox_rows(store)] == [0] * 6, "a paused batch's attempt is not counted"
        await wait_until(lambda: nothing_pending(store))
    requests = receiver.state.requests
    assert [request.status for request in requests] == [429, 200]
    assert requests[1].at >= quota_resets, "nothing was sent while paused"
    assert applied_once_each(receiver.state, "crm", keys)
    assert [row.attempts for row in await outbox_rows(store)] == [1] * 6
    assert (await summary(store))["crm"]["paused_until"] is None


async def test_an_operator_resumes_a_paused_consumer(store: Store, receiver: Receiver,
                                                     client: httpx.AsyncClient) -> None:
    receiver.state.quota_until = utcnow() + dt.timedelta(hours=1)
    keys = await queue_events(store, "crm", per_lead=1)
    worker = worker_for(store, client, receiver)
    assert await worker.run_once() == 0
    assert await worker.run_once() == 0 and len(receiver.state.requests) == 1, "paused: nothing sent"
    receiver.state.quota_until = None  # the vendor raised the quota
    assert await resume(store, "crm") is True
    assert await worker.run_once() == 3
    assert applied_once_each(receiver.state, "crm", keys)
    assert await resume(store, "crm") is False


async def test_a_broken_consumer_does_not_hold_up_the_others(store: Store, receiver: Receiver,
                                                             client: httpx.AsyncClient) -> None:
    class BrokenConsumer:
        name, batch_size = "broken", 10

        async def deliver(self, items: Sequence[OutboxItem]) -> None:
            raise KeyError("contact_id")

    keys = await queue_events(store, "crm")
    await queue_events(store, "broken", per_lead=1)
    consumers = {"crm": ReceiverConsumer("crm", receiver.url, client), "broken": BrokenConsumer()}
    worker = OutboxWorker(store, consumers, FAST)  # type: ignore[arg-type]
    assert await worker.run_once() == 12
    assert applied_once_each(receiver.state, "crm", keys)
    broken = await outbox_rows(store, "broken")
    assert [(row.state, row.attempts, row.last_error) for row in broken] == [
        ("pending", 1, "KeyError: 'contact_id'")] * 3
    assert (await summary(store))["broken"]["failures"] == 1


async def test_the_worker_keeps_polling_through_database_errors(database_url: str, receiver: Receiver,
                                                                client: httpx.AsyncClient) -> None:
    bare = Store(database_url, sa.MetaData())  # no outbox tables yet: every round fails
    try:
        async with running(worker_for(bare, client, receiver)):
            await asyncio.sleep(0.1)
            store = await open_store(database_url)
            keys = await queue_events(store, "crm")
            await wait_until(lambda: nothing_pending(store))
            await store.close()
    finally:
        await bare.close()
    assert applied_once_each(receiver.state, "crm", keys)


# -- several workers -------------------------------------------------------------------------------

async def test_two_workers_share_the_outbox_and_send_nothing_twice(database_url: str, receiver: Receiver,
                                                                   client: httpx.AsyncClient) -> None:
    consumers = ("crm", "webhook", "audit")
    stores = [await open_store(database_url) for _ in range(2)]  # as two server processes would
    # Both workers live throughout, so no lease may run out: the default lease (a delivery may take
    # half of it) rather than the 2 s that a starved machine can exceed and count as a timeout.
    policy = attrs.evolve(FAST, lease_seconds=OutboxPolicy().lease_seconds)
    workers = [OutboxWorker(store, {name: ReceiverConsumer(name, receiver.url, client, batch_size=16, sender=owner)
                                    for name in consumers}, policy, owner=owner)
               for owner, store in zip(["w0", "w1"], stores, strict=True)]
    leads = [f"lead{number}" for number in range(20)]
    rows = [outbox_row(name, f"{name}-{lead}-{seq}", "lead.updated", {"lead": lead, "seq": seq}, lead, utcnow())
            for seq in range(17) for lead in leads for name in consumers]  # 1,020 items
    try:
        async with running(*workers):
            for wave in range(0, len(rows), 30):  # turns keep arriving while the workers deliver
                writer = wave // 30 % 2
                async with stores[writer].transaction() as connection:
                    await enqueue(connection, rows[wave:wave + 30])
                workers[writer].notify()
                await asyncio.sleep(0.02)
            await wait_until(lambda: nothing_pending(stores[0]), timeout=20)
        settled = await outbox_rows(stores[0])
    finally:
        for store in stores:
            await store.close()
    state = receiver.state
    for name in consumers:
        keys = [row["key"] for row in rows if row["consumer"] == name]
        assert applied_once_each(state, name, keys)
        assert set(state.times_sent(name).values()) == {1}, "a key was sent twice"
        assert_order_kept(state.applied_order[name])
    assert len(settled) == 1020 and {(row.state, row.attempts) for row in settled} == {("delivered", 1)}


async def test_a_killed_workers_lease_runs_out_and_another_takes_over(store: Store, database_url: str,
                                                                      receiver: Receiver,
                                                                      client: httpx.AsyncClient) -> None:
    keys = await queue_events(store, "crm", per_lead=8)
    receiver.state.stall_next = True  # the first batch is applied, but its answer never leaves
    process = subprocess.Popen([sys.executable, str(WORKER_SCRIPT), database_url, receiver.url, "doomed", "1.5"])
    try:
        assert await asyncio.to_thread(receiver.state.stalled.wait, 30), "the doomed worker never sent its batch"
        async with store.connect() as connection:
            lease = (await connection.execute(sa.select(outbox_consumers))).one()
    finally:
        process.kill()
        process.wait()
    receiver.state.released.set()
    assert lease.lease_owner == "doomed"
    held = receiver.state.requests[0].keys
    # The batch that went out is marked as sent once (its outcome unknown); the rest never went.
    assert [(row.state, row.attempts) for row in await outbox_rows(store)] == [
        ("pending", 1 if row.key in held else 0) for row in await outbox_rows(store)]
    assert sum(row.attempts for row in await outbox_rows(store)) == len(held) > 0

    async with running(worker_for(store, client, receiver, owner="rescuer")):
        await wait_until(lambda: nothing_pending(store))
    rescues = [request for request in receiver.state.requests if request.sender == "rescuer"]
    assert rescues[0].at >= utc(lease.lease_until), "the lease was taken over before it ran out"
    sent_twice = {key: count for key, count in receiver.state.times_sent("crm").items() if count > 1}
    assert sent_twice == dict.fromkeys(held, 2), "only the batch whose answer was lost is sent again"
    assert applied_once_each(receiver.state, "crm", keys), "a re-sent key was applied twice"
    assert_order_kept(receiver.state.applied_order["crm"])
    assert {row.state for row in await outbox_rows(store)} == {"delivered"}


# -- queueing and the operator's queries -----------------------------------------------------------

async def test_an_event_is_queued_once_per_consumer_however_often_it_is_enqueued(store: Store) -> None:
    now = utcnow()
    first = outbox_row("crm", "evt-1", "lead.created", {"version": 1}, "ann", now)
    again = outbox_row("crm", "evt-1", "lead.created", {"version": 2}, "ann", now)
    async with store.transaction() as connection:
        await enqueue(connection, [first, again])
        await enqueue(connection, [again])
        await connection.run_sync(enqueue_sync, [again, outbox_row("webhook", "evt-1", "lead.created", {}, "ann", now)])
        await enqueue(connection, [outbox_row("crm", "evt-2", "lead.updated", {}, "ann", now)])  # still usable
    async with store.transaction() as connection:
        await enqueue(connection, [again])
    async with store.transaction() as connection:
        await connection.run_sync(enqueue_sync, [again])
    rows = await outbox_rows(store)
    assert [(row.consumer, row.key, row.payload) for row in rows] == [
        ("crm", "evt-1", {"version": 1}), ("webhook", "evt-1", {}), ("crm", "evt-2", {})]


async def test_bad_arguments_get_clear_errors(store: Store) -> None:
    await queue_events(store, "crm", per_lead=1)
    with pytest.raises(ValueError, match="state 'sent'; expected one of pending, held, delivered, skipped, dead"):
        await list_items(store, state="sent")
    with pytest.raises(ValueError, match="limit must be a positive whole number"):
        await list_items(store, limit=0)
    with pytest.raises(ValueError, match="item ids or dead=True, one of the two"):
        await requeue(store)
    with pytest.raises(ValueError, match="item ids or dead=True, one of the two"):
        await requeue(store, [1], dead=True)
    with pytest.raises(ValueError, match="ids must be whole numbers"):
        await requeue(store, ["1"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="no outbox consumer named 'crn'"):
        await requeue(store, dead=True, consumer="crn")
    with pytest.raises(ValueError, match="no outbox consumer named 'crn'"):
        await resume(store, "crn")
    with pytest.raises(ValueError, match="consumer must be a non-empty string"):
        outbox_row("", "k", "lead.created", {}, None, utcnow())
    with pytest.raises(ValueError, match="payload is a mapping, not list"):
        outbox_row("crm", "k", "lead.created", [], None, utcnow())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aware datetime"):
        outbox_row("crm", "k", "lead.created", {}, None, dt.datetime.now())
    with pytest.raises(ValueError, match="aware datetime"):
        PauseDelivery(dt.datetime.now(), "quota")
    with pytest.raises(ValueError, match="cannot be negative"):
        RetryLater("busy", after=-1)
    with pytest.raises(ValueError, match="base_delay must be positive"):
        OutboxPolicy(base_delay=0)
    with pytest.raises(ValueError, match="batch_size 0"):
        OutboxWorker(store, {"crm": ReceiverConsumer("crm", "http://127.0.0.1:9", httpx.AsyncClient(), batch_size=0)})
    assert await requeue(store, [999]) == 0  # no such item: nothing requeued, no error


def test_backoff_grows_from_base_delay_to_max_delay_with_jitter() -> None:
    policy = OutboxPolicy()
    for failures, ceiling in [(1, 1), (2, 2), (3, 4), (10, 512), (11, 900), (5000, 900)]:
        delays = [policy.backoff(failures) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling, failures
        assert len(set(delays)) > 1, "no jitter"

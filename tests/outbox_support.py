"""A careful remote for the outbox tests, the consumer that posts to it, and a worker process to kill.

* ``serve_receiver()``: a loopback HTTP receiver that records every request and applies each item
  key at most once. It can fail the next requests (``state.fail_next(503, n)``), refuse keys for
  good (``state.refused``), answer "quota exceeded" until a time (``state.quota_until``), or hold
  a request after applying it (``state.stall_next``), as a remote whose answer never comes back.
* ``ReceiverConsumer``: an outbox consumer posting each batch as one JSON request.
* ``python outbox_support.py DATABASE_URL RECEIVER_URL OWNER LEASE_SECONDS``: a worker in its own
  process, delivering the consumer ``crm`` until it is killed.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import attrs
import httpx
from chinwag.outbox import OutboxItem, PauseDelivery, RetryLater, Skipped, outbox_metadata
from chinwag.outbox_worker import OutboxPolicy, OutboxWorker
from chinwag.sandbox import SandboxServer, SandboxState, serve_in_thread
from chinwag.store import Store, utcnow
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@attrs.frozen
class Received:
    """One request as the receiver saw it."""

    consumer: str
    sender: str
    keys: tuple[str, ...]
    status: int
    at: dt.datetime


@attrs.define
class ReceiverState(SandboxState):
    """What the receiver applied and was asked, and how it should misbehave next."""

    refused: dict[str, str] = attrs.field(factory=dict)  # key -> the reason given
    quota_until: dt.datetime | None = None
    stall_next: bool = False
    stalled: threading.Event = attrs.field(factory=threading.Event)  # set when a request is held
    released: threading.Event = attrs.field(factory=threading.Event)  # set to let it answer
    requests: list[Received] = attrs.field(factory=list)
    # Per consumer: each applied key's payload, and the payloads in the order they were applied.
    applied: dict[str, dict[str, Any]] = attrs.field(factory=lambda: collections.defaultdict(dict))
    applied_order: dict[str, list[dict[str, Any]]] = attrs.field(factory=lambda: collections.defaultdict(list))
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def times_sent(self, consumer: str) -> collections.Counter[str]:
        """How many requests carried each key of ``consumer``, failed ones included."""
        return collections.Counter(key for request in self.requests if request.consumer == consumer
                                   for key in request.keys)


def receiver_app(state: ReceiverState) -> Starlette:
    """``POST /deliveries/{consumer}`` with ``{"items": [{"key", "ordering_key", "payload"}]}``.

    Answers ``{"results": [{"key", "status": applied | duplicate | refused, "reason"?}]}``.
    """

    async def receive(request: Request) -> Response:
        consumer = request.path_params["consumer"]
        items = (await request.json())["items"]
        now = utcnow()

        def record(status: int) -> None:
            with state.lock:
                state.requests.append(Received(consumer, request.headers.get("X-Sender", ""),
                                               tuple(item["key"] for item in items), status, now))

        fault = state.take_fault(request.method, request.url.path)
        if fault is not None:
            record(fault.status)
            return JSONResponse({"error": "unavailable"}, fault.status, fault.headers())
        if state.quota_until is not None and now < state.quota_until:
            record(429)
            return JSONResponse({"error": "quota exceeded", "resets_at": state.quota_until.isoformat()}, 429)
        results = []
        with state.lock:
            for item in items:
                key = item["key"]
                if key in state.refused:
                    results.append({"key": key, "status": "refused", "reason": state.refused[key]})
                elif key in state.applied[consumer]:
                    results.append({"key": key, "status": "duplicate"})
                else:
                    state.applied[consumer][key] = item["payload"]
                    state.applied_order[consumer].append(item["payload"])
                    results.append({"key": key, "status": "applied"})
            stall, state.stall_next = state.stall_next, False
        record(200)
        if stall:  # applied, but the answer is held: the sender cannot know it arrived
            state.stalled.set()
            while not state.released.is_set():
                await asyncio.sleep(0.01)
        return JSONResponse({"results": results})

    return Starlette(routes=[Route("/deliveries/{consumer}", receive, methods=["POST"])])


Receiver: TypeAlias = SandboxServer[ReceiverState]


def serve_receiver() -> Receiver:
    """The receiver on a free loopback port, in a thread; stop it with ``stop()``."""
    state = ReceiverState()
    return serve_in_thread(receiver_app(state), state, lambda url, _state: {"url": url}, label="outbox receiver")


@attrs.define
class ReceiverConsumer:
    """An outbox consumer that posts each batch to the receiver as one request.

    Every item carries its key, which the receiver applies at most once; a refused key becomes
    ``Skipped``, "quota exceeded" ``PauseDelivery``, a 5xx or a lost connection ``RetryLater``.
    """

    name: str
    url: str
    client: httpx.AsyncClient
    batch_size: int = 10
    sender: str = ""  # which worker sent a request, for the receiver's record

    async def deliver(self, items: Sequence[OutboxItem]) -> Mapping[int, Skipped] | None:
        """Post ``items`` in one request and map the receiver's answer to the outbox's outcomes."""
        body = {"items": [{"key": item.key, "ordering_key": item.ordering_key, "payload": item.payload}
                          for item in items]}
        try:
            response = await self.client.post(f"{self.url}/deliveries/{self.name}", json=body,
                                              headers={"X-Sender": self.sender})
        except httpx.TransportError as error:
            raise RetryLater(f"receiver unreachable: {error!r}") from error
        if response.status_code == 429:
            raise PauseDelivery(dt.datetime.fromisoformat(response.json()["resets_at"]), response.json()["error"])
        if response.status_code >= 500:
            retry_after = response.headers.get("Retry-After")
            raise RetryLater(f"receiver answered {response.status_code}",
                             float(retry_after) if retry_after is not None else None)
        response.raise_for_status()
        ids = {item.key: item.id for item in items}
        return {ids[result["key"]]: Skipped(result["reason"])
                for result in response.json()["results"] if result["status"] == "refused"} or None


async def run_worker_until_killed(database_url: str, receiver_url: str, owner: str, lease_seconds: float) -> None:
    """Deliver the consumer ``crm`` with the fast test policy, forever."""
    store = Store(database_url, outbox_metadata)  # the tables exist: the test made them
    async with httpx.AsyncClient() as client:
        consumer = ReceiverConsumer("crm", receiver_url, client, sender=owner)
        policy = OutboxPolicy(base_delay=0.01, max_delay=0.05, lease_seconds=lease_seconds, poll_interval=0.01)
        OutboxWorker(store, {"crm": consumer}, policy, owner=owner).start()
        await asyncio.Event().wait()


if __name__ == "__main__":
    url, receiver, name, lease = sys.argv[1:5]
    asyncio.run(run_worker_until_killed(url, receiver, name, float(lease)))

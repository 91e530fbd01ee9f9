"""Prometheus metrics of a serving process, with the prometheus-client library.

Each app has its own ``Metrics`` (its own registry, so several apps in one test process never
clash). They are served at ``/-/metrics`` behind the admin token, and on a separate address
without it (``chinwag serve --metrics-address``). Under ``chinwag serve --workers N`` every worker
writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess
mode) and any worker, or the supervisor's metrics address, answers for all of them.

What is measured, and what it costs a turn: a counter and a histogram per played frame and a
histogram per group commit, each a dictionary lookup and a lock (see ``docs/benchmarks.md``);
the outbox's depth is read from the database every ``OUTBOX_REFRESH_SECONDS``, never per turn.
Labels are closed sets (frame types, error codes, consumer and vendor names, operations), so
nothing a visitor sends becomes a label.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest,
                               multiprocess)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from .store import Store, utc, utcnow

log = logging.getLogger("chinwag.metrics")

T = TypeVar("T")

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
OUTBOX_REFRESH_SECONDS = 15.0
# The client frames a turn is counted under ("bad_frame": one that could not be decoded).
FRAME_KINDS = ("hello", "answer", "start", "trigger", "opened", "closed", "bad_frame")
TURN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def multiprocess_dir() -> str | None:
    """The folder prometheus-client's multiprocess mode writes to, when this process is one of several workers."""
    return os.environ.get(MULTIPROCESS_VARIABLE) or None


def call_outcome(error: BaseException | None) -> str:
    """How a calendar or CRM call ended, as a label: ``ok``, or the kind of failure (by the error's
    class name, so this module need not import the contracts): ``revoked`` (the agent's grant),
    ``unavailable`` (the calendar gave up after retries), ``retry_later`` and ``paused`` (a CRM's
    transient failure and quota), ``no_room`` (the vendor's shared rate limit is used up for now),
    ``timeout``, ``cancelled`` or ``error``."""
    if error is None:
        return "ok"
    names = {cls.__name__ for cls in type(error).__mro__}
    for name, outcome in (("GrantRevoked", "revoked"), ("CalendarUnavailable", "unavailable"),
                          ("RetryLater", "retry_later"), ("PauseDelivery", "paused"), ("LimiterBusy", "no_room"),
                          ("TimeoutError", "timeout"),
                          ("CancelledError", "cancelled")):
        if name in names:
            return outcome
    return "error"


class Metrics:
    """The metrics of one app (see the module docstring for what each measures)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        if multiprocess_dir() is None:  # in multiprocess mode each worker's process metrics would mislead
            for collector in (ProcessCollector, PlatformCollector, GCCollector):
                collector(registry=registry)
        self.connected = Gauge("chinwag_connected_visitors", "Chat WebSocket connections open now.",
                               registry=registry, multiprocess_mode="livesum")
        self.turns = Counter("chinwag_turns", "Client frames played (pings excepted), by frame type.", ["frame"],
                             registry=registry)
        self.turn_seconds = Histogram("chinwag_turn_seconds",
                                      "From a client frame's arrival to its last reply frame sent, by frame type.",
                                      ["frame"], buckets=TURN_BUCKETS, registry=registry)
        self.error_frames = Counter("chinwag_error_frames", "Error frames sent to visitors, by code.", ["code"],
                                    registry=registry)
        self.batch_size = Histogram("chinwag_turn_batch_size", "Turns stored per group-commit transaction.",
                                    buckets=BATCH_BUCKETS, registry=registry)
        self.conflicts = Counter("chinwag_turn_conflicts", "Turns refused because their session changed elsewhere.",
                                 registry=registry)
        self.outbox_pending = Gauge("chinwag_outbox_pending", "Outbox items waiting for delivery, by consumer.",
                                    ["consumer"], registry=registry, multiprocess_mode="mostrecent")
        self.outbox_age = Gauge("chinwag_outbox_oldest_pending_seconds",
                                "Age of each consumer's oldest pending outbox item (0 when none is pending).",
                                ["consumer"], registry=registry, multiprocess_mode="mostrecent")
        self.outbox_paused = Gauge("chinwag_outbox_paused", "1 while a consumer is paused (a quota), else 0.",
                                   ["consumer"], registry=registry, multiprocess_mode="mostrecent")
        self.outbox_failures = Gauge("chinwag_outbox_consecutive_failures",
                                     "Failed delivery batches in a row, by consumer (0 after a success).",
                                     ["consumer"], registry=registry, multiprocess_mode="mostrecent")
        self.outbox_batches = Counter("chinwag_outbox_batches", "Delivery batches, by consumer and outcome "
                                      "(delivered, failed, paused).", ["consumer", "outcome"], registry=registry)
        self.outbox_dead = Counter("chinwag_outbox_dead_items", "Outbox items given up on (dead), by consumer.",
                                   ["consumer"], registry=registry)
        self.calendar_calls = Counter("chinwag_calendar_calls", "Calls to calendar providers, by provider, "
                                      "operation and outcome.", ["provider", "operation", "outcome"], registry=registry)
        self.calendar_seconds = Histogram("chinwag_calendar_call_seconds", "Calendar provider call durations.",
                                          ["provider", "operation"], buckets=CALL_BUCKETS, registry=registry)
        self.crm_calls = Counter("chinwag_crm_calls", "Calls to CRM connectors, by connector, operation and outcome.",
                                 ["connector", "operation", "outcome"], registry=registry)
        self.crm_seconds = Histogram("chinwag_crm_call_seconds", "CRM connector call durations.",
                                     ["connector", "operation"], buckets=CALL_BUCKETS, registry=registry)
        # Children bound once: a turn pays a dictionary lookup, not a labels() call.
        self._turns = {kind: self.turns.labels(kind) for kind in FRAME_KINDS}
        self._turn_seconds = {kind: self.turn_seconds.labels(kind) for kind in FRAME_KINDS}

    # -- the chat ------------------------------------------------------------------------------------

    def count_connections(self, change: int) -> None:
        """A chat connection opened (+1) or closed (-1)."""
        self.connected.inc(change)

    def turn_played(self, kind: str, frames: Iterable[Mapping[str, Any]], seconds: float) -> None:
        """A client frame of ``kind`` was played and its ``frames`` sent, ``seconds`` after it arrived."""
        counter = self._turns.get(kind)
        if counter is None:  # a ping: not a turn
            return
        counter.inc()
        self._turn_seconds[kind].observe(seconds)
        for frame in frames:
            if frame.get("type") == "error":
                self.error_frame(str(frame.get("code")))

    def error_frame(self, code: str) -> None:
        """An error frame with ``code`` was sent."""
        self.error_frames.labels(code).inc()

    def batch_committed(self, turns: int, conflicts: int) -> None:
        """The turn writer committed a batch of ``turns``, ``conflicts`` of them refused."""
        self.batch_size.observe(turns)
        if conflicts:
            self.conflicts.inc(conflicts)

    # -- the vendors ---------------------------------------------------------------------------------

    async def calendar(self, provider: str, operation: str, call: Awaitable[T]) -> T:
        """Await one calendar provider ``call`` (``provider.busy(...)``), counted and timed:
        ``busy = await app.metrics.calendar(provider.name, "busy", provider.busy(app, grant, start, end))``."""
        return await self._timed(call, self.calendar_calls, self.calendar_seconds, provider, operation)

    async def crm(self, connector: str, operation: str, call: Awaitable[T]) -> T:
        """Await one CRM connector ``call``, counted and timed (as ``calendar``)."""
        return await self._timed(call, self.crm_calls, self.crm_seconds, connector, operation)

    @staticmethod
    async def _timed(call: Awaitable[T], calls: Counter, seconds: Histogram, vendor: str, operation: str) -> T:
        started, error = time.perf_counter(), None
        try:
            return await call
        except BaseException as raised:
            error = raised
            raise
        finally:
            calls.labels(vendor, operation, call_outcome(error)).inc()
            seconds.labels(vendor, operation).observe(time.perf_counter() - started)

    # -- the outbox ----------------------------------------------------------------------------------

    def outbox_batch(self, consumer: str, outcome: str, dead: int = 0) -> None:
        """A delivery batch of ``consumer`` ended (delivered, failed or paused); ``dead`` items died."""
        self.outbox_batches.labels(consumer, outcome).inc()
        if dead:
            self.outbox_dead.labels(consumer).inc(dead)

    async def refresh_outbox(self, store: Store, consumers: Iterable[str]) -> None:
        """Read each consumer's pending count, oldest pending age, pause and failures from the database."""
        from .outbox import IS_PENDING, outbox, outbox_consumers

        now = utcnow()
        pending = sa.select(outbox.c.consumer, sa.func.count(), sa.func.min(outbox.c.created_at)).where(
            IS_PENDING).group_by(outbox.c.consumer)
        async with store.connect() as connection:
            depth = {name: (count, oldest) for name, count, oldest in await connection.execute(pending)}
            state = {row.consumer: row for row in await connection.execute(sa.select(outbox_consumers))}
        for name in consumers:
            count, oldest = depth.get(name, (0, None))
            self.outbox_pending.labels(name).set(count)
            self.outbox_age.labels(name).set(max(0.0, (now - utc(oldest)).total_seconds()) if oldest else 0.0)  # type: ignore[operator]
            row = state.get(name)
            paused = row is not None and row.paused_until is not None and utc(row.paused_until) > now  # type: ignore[operator]
            self.outbox_paused.labels(name).set(1 if paused else 0)
            self.outbox_failures.labels(name).set(row.failures if row is not None else 0)

    async def watch_outbox(self, store: Store, consumers: list[str], every: float = OUTBOX_REFRESH_SECONDS) -> None:
        """Refresh the outbox gauges every ``every`` seconds until cancelled (a serving process's task)."""
        while True:
            try:
                await self.refresh_outbox(store, consumers)
            except Exception as error:  # the database is away: the chat says so; the gauges keep their values
                log.warning("could not read the outbox for the metrics: %r", error)
            await asyncio.sleep(every)

    # -- exposition ----------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format: this app's, or every worker's in multiprocess mode."""
        return generate_latest(gathering_registry() or self.registry)


def gathering_registry() -> CollectorRegistry | None:
    """In multiprocess mode, a registry that reads every worker's files; else None."""
    folder = multiprocess_dir()
    if folder is None:
        return None
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)
    return registry


def serve_metrics(host: str, port: int, registry: CollectorRegistry) -> Any:
    """Serve ``registry`` at ``http://host:port/metrics`` from a thread; returns the HTTP server
    (``shutdown()`` stops it). Raises ``OSError`` when the address is taken."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server

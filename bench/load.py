"""The load generator: N concurrent visitors chatting over real WebSockets.

Each visitor connects with the server's own Origin, says ``hello`` and answers every question
(the first button) as soon as it arrives. A *turn* is one ``answer`` sent until the next
``question`` frame is received. Turns completing inside a fixed window after a warm-up are
counted and timed; every visitor finishes its turn in flight before it leaves, so the server
has stored exactly the turns counted here (``bench.chat`` checks that against the database).

In connect mode the visitors only connect and are greeted (``hello`` until the first question),
at most ``CONNECT_CONCURRENCY`` at once, then leave: the rate is visitors greeted per second.

It runs in its own process so it never shares the server's interpreter (``bench.chat`` starts
it). Output is line based on stdout: ``WINDOW_START``, ``WINDOW_END`` (turns and connect modes) or
``READY <json>`` (idle mode), then ``RESULT <json>``.

    python -m bench.load turns --url ws://127.0.0.1:8000/ws --visitors 100 --warmup 3 --duration 10
    python -m bench.load connect --url ws://127.0.0.1:8000/ws --visitors 2000
    python -m bench.load idle --url ws://127.0.0.1:8000/ws --visitors 5000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

CONNECT_CONCURRENCY = 100  # handshakes in flight at once: a ramp, not a SYN flood
FRAME_TIMEOUT = 60.0  # seconds a visitor waits for a frame before it counts as failed
IDLE_HOLD_LIMIT = 600.0  # idle mode closes by itself even if nobody says stop


@dataclass
class Tally:
    """What the visitors of one phase observed."""

    connected: int = 0
    failed: int = 0
    sessions: int = 0
    turns_total: int = 0
    turns_window: int = 0
    latencies: list[float] = field(default_factory=list)
    greetings: list[float] = field(default_factory=list)  # seconds from opening the socket to the first question
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, code: str) -> None:
        """Count one failure by its kind."""
        self.errors[code] = self.errors.get(code, 0) + 1


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one (thousands of sockets); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def _next_question(socket: ClientConnection, tally: Tally) -> dict[str, Any] | None:
    """Read frames until a question; None (and counted) on an error frame."""
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), FRAME_TIMEOUT))
        kind = frame.get("type")
        if kind == "question":
            return frame
        if kind in ("error", "invalid"):
            tally.error(f"{kind}:{frame.get('code', '')}")
            return None


# Browsers offer permessage-deflate and uvicorn accepts it; ``--no-deflate`` shows what it costs.
COMPRESSION: str | None = "deflate"


async def _open(url: str, origin: str, gate: asyncio.Semaphore, tally: Tally) -> tuple[ClientConnection, dict[str, Any]] | None:
    """Connect, say hello and return the socket with the first question (None on failure)."""
    async with gate:
        opening = time.perf_counter()
        try:
            socket = await connect(url, origin=origin, max_size=1 << 22, open_timeout=FRAME_TIMEOUT,
                                   ping_interval=None, compression=COMPRESSION)  # type: ignore[arg-type]
            await socket.send(json.dumps({"type": "hello", "protocol": 1, "visitor": None, "session": None,
                                          "page": {"url": f"{origin}/pricing"}, "timezone": "Europe/London",
                                          "locale": "en-GB"}))
            question = await _next_question(socket, tally)
        except Exception as error:  # a refused or dropped handshake is a result, not a crash
            tally.error(type(error).__name__)
            tally.failed += 1
            return None
    if question is None:
        tally.failed += 1
        await socket.close()
        return None
    tally.greetings.append(time.perf_counter() - opening)
    tally.connected += 1
    tally.sessions += 1
    return socket, question


async def _chat(opened: tuple[ClientConnection, dict[str, Any]], start: asyncio.Event, window: tuple[float, float],
                tally: Tally) -> None:
    """Answer questions until the window closes; time the turns that end inside it."""
    socket, question = opened
    window_start, window_end = window
    await start.wait()
    try:
        while time.perf_counter() < window_end:
            answer = {"type": "answer", "question": question["id"], "value": question["input"]["options"][0]["id"]}
            sent = time.perf_counter()
            await socket.send(json.dumps(answer))
            next_question = await _next_question(socket, tally)
            done = time.perf_counter()
            if next_question is None:
                return
            tally.turns_total += 1
            if window_start <= done < window_end:
                tally.turns_window += 1
                tally.latencies.append(done - sent)
            question = next_question
    except Exception as error:  # a dropped visitor is reported, the others go on
        tally.error(type(error).__name__)
    finally:
        await socket.close()


async def _connect_all(url: str, origin: str, visitors: int, tally: Tally) -> list[tuple[ClientConnection, dict[str, Any]]]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    opened = await asyncio.gather(*(_open(url, origin, gate, tally) for _ in range(visitors)))
    return [item for item in opened if item is not None]


async def run_turns(url: str, origin: str, visitors: int, warmup: float, duration: float) -> dict[str, Any]:
    """Connect ``visitors``, let them all chat, measure ``duration`` seconds after ``warmup``."""
    tally = Tally()
    connect_started = time.perf_counter()
    opened = await _connect_all(url, origin, visitors, tally)
    connect_seconds = time.perf_counter() - connect_started
    start = asyncio.Event()
    now = time.perf_counter()
    window = (now + warmup, now + warmup + duration)
    cpu_before = _cpu_seconds()
    tasks = [asyncio.create_task(_chat(item, start, window, tally)) for item in opened]
    start.set()
    await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
    _say("WINDOW_START")
    cpu_window_start = _cpu_seconds()
    await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
    cpu_window = _cpu_seconds() - cpu_window_start
    _say("WINDOW_END")
    await asyncio.gather(*tasks)
    latencies = tally.latencies
    return {
        "visitors": visitors, "connected": tally.connected, "failed": tally.failed, "sessions": tally.sessions,
        "connect_seconds": round(connect_seconds, 2), "window_seconds": duration,
        "turns_window": tally.turns_window, "turns_total": tally.turns_total,
        "turns_per_second": round(tally.turns_window / duration, 1),
        "p50_ms": _ms(percentile(latencies, 0.50)), "p99_ms": _ms(percentile(latencies, 0.99)),
        "errors": tally.errors, "client_cpu_percent": round(100 * cpu_window / duration, 1),
        "client_cpu_seconds_total": round(_cpu_seconds() - cpu_before, 2),
    }


async def run_connect(url: str, origin: str, visitors: int) -> dict[str, Any]:
    """Connect ``visitors`` and greet each (hello to first question); time it; then close them all."""
    tally = Tally()
    cpu_before = _cpu_seconds()
    _say("WINDOW_START")
    started = time.perf_counter()
    opened = await _connect_all(url, origin, visitors, tally)
    elapsed = time.perf_counter() - started
    _say("WINDOW_END")
    cpu = _cpu_seconds() - cpu_before
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY * 5)

    async def close(socket: ClientConnection) -> None:
        async with gate:
            await socket.close()

    await asyncio.gather(*(close(socket) for socket, _ in opened), return_exceptions=True)
    return {"visitors": visitors, "connected": tally.connected, "failed": tally.failed, "sessions": tally.sessions,
            "connect_seconds": round(elapsed, 3), "greeted_per_second": round(tally.connected / elapsed, 1),
            "greet_p50_ms": _ms(percentile(tally.greetings, 0.50)), "greet_p99_ms": _ms(percentile(tally.greetings, 0.99)),
            "errors": tally.errors, "client_cpu_percent": round(100 * cpu / elapsed, 1)}


async def run_idle(url: str, origin: str, visitors: int) -> dict[str, Any]:
    """Connect ``visitors`` that say hello and then sit idle until stdin says stop (or closes)."""
    tally = Tally()
    started = time.perf_counter()
    opened = await _connect_all(url, origin, visitors, tally)
    _say("READY " + json.dumps({"connected": tally.connected, "failed": tally.failed,
                                "connect_seconds": round(time.perf_counter() - started, 2)}))
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), IDLE_HOLD_LIMIT)
    except TimeoutError:
        pass
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY * 5)

    async def close(socket: ClientConnection) -> None:
        async with gate:
            await socket.close()

    await asyncio.gather(*(close(socket) for socket, _ in opened), return_exceptions=True)
    return {"visitors": visitors, "connected": tally.connected, "failed": tally.failed, "errors": tally.errors}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    """Command line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description="chinwag WebSocket load generator")
    parser.add_argument("mode", choices=["turns", "connect", "idle"])
    parser.add_argument("--url", required=True, help="the chat WebSocket, ws://host:port/ws")
    parser.add_argument("--origin", default=None, help="Origin header (default: the server's own)")
    parser.add_argument("--visitors", type=int, default=100)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    args = parser.parse_args(argv)
    global COMPRESSION
    COMPRESSION = None if args.no_deflate else "deflate"
    raise_fd_limit()
    origin = args.origin or args.url.replace("ws://", "http://").replace("wss://", "https://").rsplit("/", 1)[0]
    runner: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop  # the client should be as cheap as possible: it shares the machine

        runner = uvloop.run
    if args.mode == "turns":
        result = runner(run_turns(args.url, origin, args.visitors, args.warmup, args.duration))
    elif args.mode == "connect":
        result = runner(run_connect(args.url, origin, args.visitors))
    else:
        result = runner(run_idle(args.url, origin, args.visitors))
    _say("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()

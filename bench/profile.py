"""Where a chat turn's time goes: the chat benchmark's load under py-spy, split by part of the road.

It starts ``chinwag serve`` on the chat benchmark's project (``bench.chat``), lets ``--visitors``
visitors connect and chat, and samples the server with py-spy (native frames included) over the
measured window only, so connecting visitors are left out; ``--phase connect`` samples the
connecting instead (``hello`` to first question). Each sample is put in the first category whose
frame is found walking from the innermost frame out (``CATEGORIES``), per thread: the event
loop's thread, where all the Python of a turn runs, and the database driver's worker threads.
Samples of a thread waiting (for its queue, for the event loop's poll, in SQLite's busy handler)
are counted apart, as waiting.

    python -m bench.profile                              # SQLite, 100 visitors, 10 s window
    python -m bench.profile --visitors 1000 --raw turns.txt
    python -m bench.profile --phase connect --visitors 2000
    python -m bench.profile --database postgresql+asyncpg://postgres@127.0.0.1:5432/test

py-spy comes with the test extras (``pip install py-spy`` otherwise) and needs to be allowed to
read the server's memory (root, or ``kernel.yama.ptrace_scope`` 0).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from .chat import REPO, chinwag_server, make_project
from .load import raise_fd_limit

# (category, substrings of a frame): the first frame from the innermost out that holds one of a
# category's substrings decides. Order matters: specific parts before the layers that call them.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("waiting: busy handler (SQLite write lock)", ("sqlite3InvokeBusyHandler",)),
    ("waiting: idle", ("epoll_pwait", "_queue_SimpleQueue_get", "pthread_cond_timedwait", "PyThread_acquire_lock_timed",
                       "Condition.wait", "select (selectors", "do_futex_wait")),
    ("SQLite: commit", ("pysqlite_connection_commit", "sqlite3VdbeHalt", "sqlite3PagerCommitPhase", "walFrames")),
    ("SQLite: statements", ("sqlite3_step", "sqlite3_prepare", "sqlite3LockAndPrepare", "bind_parameters",
                            "_pysqlite_query_execute", "pysqlite_")),
    ("garbage collection", ("gc_collect_main",)),
    ("protocol: decode", ("decode (core/protocol.py",)),
    ("protocol: encode", ("encode (core/protocol.py",)),
    ("state serialisation", ("State.to_json", "State.from_json", "_copy (core/engine.py")),
    ("JSON of database values", ("JSON.bind_processor", "JSON.result_processor", "process (sqlalchemy/sql/sqltypes.py",
                                 "_json_serializer", "orjson")),
    ("driver: thread hop", ("aiosqlite/", "call_soon_threadsafe", "_queue_SimpleQueue_put", "sem_post",
                            "pthread_cond_signal", "_set_result_unless_cancelled")),
    ("driver: asyncpg", ("asyncpg/",)),
    ("SQL building and results (SQLAlchemy)", ("sqlalchemy/",)),
    ("engine", ("core/engine.py", "core/default_cards.py", "core/text.py", "core/dialogue.py")),
    ("turn writer", ("core/turn_writer.py",)),
    ("session and events (chinwag)", ("core/session.py", "core/events.py", "core/outbox.py", "core/monthly_cap.py",
                                      "core/targeting/", "core/publishing.py", "core/abuse_limits.py",
                                      "core/crm_records.py")),
    ("server loop (chinwag)", ("core/server.py",)),
    ("WebSocket and ASGI (uvicorn, websockets, Starlette)", ("uvicorn/", "websockets/", "starlette/", "httptools")),
    ("socket I/O", ("write (libc", "writev", "sendmsg", "recv", "read (libc", "uv__write", "uv__read")),
)
OTHER = "event loop and other"
READY_TIMEOUT = 600.0


def categorize(frames: list[str]) -> str:
    """The category of one sample's stack (outermost frame first)."""
    for frame in reversed(frames):
        for category, needles in CATEGORIES:
            if any(needle in frame for needle in needles):
                return category
    return OTHER


def split(raw: str) -> dict[str, dict[str, int]]:
    """Samples per thread kind and category from py-spy's ``--format raw --threads`` output."""
    result: dict[str, Counter[str]] = {"event loop thread": Counter(), "SQLite writer thread": Counter(),
                                       "database worker threads": Counter(), "other threads": Counter()}
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        thread = frames[0]
        kind = ("event loop thread" if "MainThread" in thread
                else "SQLite writer thread" if any("Store.in_transaction" in frame for frame in frames)
                else "database worker threads" if any("_connection_worker_thread" in frame for frame in frames)
                else "other threads")
        result[kind][categorize(frames[1:])] += int(count)
    return {kind: dict(counter) for kind, counter in result.items() if counter}


def format_split(samples: dict[str, dict[str, int]]) -> str:
    """A Markdown table per thread kind: share of the thread's busy samples per category."""
    lines: list[str] = []
    for kind, counter in samples.items():
        busy = {category: count for category, count in counter.items() if not category.startswith("waiting")}
        waiting = sum(count for category, count in counter.items() if category.startswith("waiting"))
        total = sum(busy.values())
        lines += [f"{kind}: {total} busy samples, {waiting} waiting", "", "| part | share of busy samples |",
                  "|---|---:|"]
        for category, count in sorted(busy.items(), key=lambda item: -item[1]):
            lines.append(f"| {category} | {100 * count / max(1, total):.1f} % |")
        lines.append("")
    return "\n".join(lines)


def profile(visitors: int, warmup: float, duration: float, phase: str, database: str | None,
            raw_path: Path | None, rate: int) -> dict[str, Any]:
    """Run the load against a fresh server and sample it; return the load's figures and the split."""
    raise_fd_limit()
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise SystemExit("py-spy is not installed in this environment (pip install py-spy)")
    with tempfile.TemporaryDirectory(prefix="chinwag-profile-") as folder:
        project = make_project(Path(folder), database=database)
        server = chinwag_server(project, Path(folder) / "chinwag.log").start()
        output = raw_path or Path(folder) / "raw.txt"
        try:
            # A first short run pays imports and warms caches, as a long-running server has.
            _load(server.ws_url, 20, 0.5, 1.0, None)
            window = duration if phase == "turns" else READY_TIMEOUT
            command = [str(spy), "record", "--native", "--threads", "--rate", str(rate),
                       "--format", "raw", "--pid", str(server.processes[0].pid), "--duration", str(int(window) + 1),
                       "--output", str(output)]
            figures = _load(server.ws_url, visitors, warmup, duration, command, phase)
        finally:
            server.stop()
        samples = split(output.read_text())
    return {"visitors": visitors, "phase": phase, "figures": figures, "samples": samples}


def _load(url: str, visitors: int, warmup: float, duration: float, spy_command: list[str] | None,
          phase: str = "turns") -> dict[str, Any]:
    """Run ``bench.load``; start py-spy at the window's start (turns) or at once (connect)."""
    mode = "turns" if phase == "turns" else "idle"
    command = [sys.executable, "-m", "bench.load", mode, "--url", url, "--visitors", str(visitors)]
    if mode == "turns":
        command += ["--warmup", str(warmup), "--duration", str(duration)]
    process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert process.stdout is not None and process.stdin is not None
    spy: subprocess.Popen[bytes] | None = None
    if spy_command and mode == "idle":
        spy = subprocess.Popen(spy_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result: dict[str, Any] = {}
    try:
        for line in process.stdout:
            if line.startswith("WINDOW_START") and spy_command:
                spy = subprocess.Popen(spy_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            elif line.startswith("READY "):
                result.update(json.loads(line[6:]))
                if spy is not None:
                    spy.send_signal(2)  # SIGINT: py-spy writes what it sampled so far and exits
                    spy.wait(60)
                process.stdin.write("stop\n")
                process.stdin.flush()
            elif line.startswith("RESULT "):
                result.update(json.loads(line[7:]))
        process.wait(60)
        if spy is not None:
            spy.wait(60)
    finally:
        for child in (process, spy):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line entry point; prints the load's figures and the split."""
    parser = argparse.ArgumentParser(description="where a chat turn's time goes, sampled with py-spy")
    parser.add_argument("--visitors", type=int, default=100)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds sampled (turns phase)")
    parser.add_argument("--phase", choices=["turns", "connect"], default="turns",
                        help="sample visitors chatting, or visitors connecting and saying hello")
    parser.add_argument("--database", default=None, help="a PostgreSQL URL to create a fresh database in (default: SQLite)")
    parser.add_argument("--rate", type=int, default=200, help="samples a second")
    parser.add_argument("--raw", type=Path, default=None, help="also keep py-spy's raw stacks in this file")
    args = parser.parse_args(argv)
    result = profile(args.visitors, args.warmup, args.duration, args.phase, args.database, args.raw, args.rate)
    figures = {key: result["figures"].get(key) for key in ("turns_per_second", "p50_ms", "p99_ms", "connected",
                                                            "connect_seconds", "client_cpu_percent")}
    print(json.dumps(figures))
    print(format_split(result["samples"]))
    return result


if __name__ == "__main__":
    main()

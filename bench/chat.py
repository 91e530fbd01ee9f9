"""The core chat benchmark: chinwag against the bare WebSocket stack, turns, connects and idle memory.

In one run it starts, each in its own process:

* the real server, ``chinwag serve`` on a temporary project whose dialogue is a loop of three
  button questions (every answer is a full turn: engine, SQLite transaction, frames back);
* with ``--postgres URL``, ``chinwag serve --workers 2`` (two serving processes on one listening
  socket) on a fresh PostgreSQL database: the way to scale;
* a bare Starlette endpoint (``bench.bare``) under the same uvicorn settings: the stack's limit;
* the load generator (``bench.load``), so visitors never share the servers' interpreter. Where
  the machine has two cores or more, the servers run on the first and the load generator on the
  others (``os.sched_setaffinity``); the CPU each used in every measured window is recorded.

Each round runs every target in turn (the order flipping every round) for each visitor count,
then a connect phase: ``--connect`` visitors connecting and greeted (``hello`` to the first
question) as fast as the load generator opens them. The report gives medians over the rounds:
turns per second, p50/p99 turn latency, server CPU per turn, visitors greeted per second, and
the ratios to the bare endpoint. After each chinwag phase it counts the rows the phase added
and checks them against what the visitors counted. Then, on fresh server processes, it holds
``--idle`` connected visitors and reports resident memory per idle visitor.

    python -m bench.chat                       # 100 and 1,000 visitors, 2,000 connecting, 5,000 idle, 3 rounds
    python -m bench.chat --quick               # a smoke run of a minute or two
    python -m bench.chat --postgres postgresql+asyncpg://postgres@127.0.0.1:5432/test --json results.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .load import raise_fd_limit

REPO = Path(__file__).resolve().parent.parent
TARGETS = ("bare", "chinwag")
# With --postgres, another target: ``chinwag serve --workers`` this many processes on one port.
POSTGRES_TARGET = "postgres"
POSTGRES_PROCESSES = 2
# With --limits, a third target: chinwag with every abuse limit on (``limits:``), set high enough
# that the benchmark's visitors, all from one address, are never refused: the figure is their cost.
LIMITS_TARGET = "limits"
BENCH_LIMITS = {"connections_per_address": 100_000, "hellos_per_address": {"count": 1_000_000, "per_seconds": 3600},
                "frames_per_second": 1000, "meetings_per_email_per_day": 3, "meetings_per_visitor": 3,
                "blocked_email_domains": [f"blocked{n}.example" for n in range(50)]}
READY_TIMEOUT = 60.0
LOAD_TIMEOUT = 600.0  # one load-generator process never outlives this many seconds
IDLE_SETTLE = 3.0  # seconds to let the server settle before reading its memory
STARTED = "Application startup complete"  # uvicorn's line once a process's app has started


def placement() -> tuple[set[int] | None, set[int] | None]:
    """The cores for the servers and for the load generator: apart where the machine has two or
    more (servers on the first, load on the rest), else None (no pinning)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2:
        return None, None
    return {cores[0]}, set(cores[1:])


SERVER_CORES, LOAD_CORES = placement()


def pinned(cores: set[int] | None) -> Any:
    """A ``preexec_fn`` that runs the child (and every thread it starts) on ``cores``."""
    if cores is None:
        return None
    return lambda: os.sched_setaffinity(0, cores)


def _question(card: str, next_card: str) -> dict[str, Any]:
    return {"id": card, "type": "question", "text": f"Question {card[-1]}: would you like to hear more?",
            "buttons": [{"label": "Yes", "value": "yes", "next": next_card},
                        {"label": "No", "value": "no", "next": next_card}]}


# A dialogue that never ends: q1 -> q2 -> q3 -> q1 ... Each answer stores the session, the
# "answered" frame, the next question and an "answered" event: a typical button turn.
BENCH_DIALOGUE: dict[str, Any] = {
    "id": "bench", "name": "Benchmark loop", "version": 1, "priority": 1,
    "cards": [_question("q1", "q2"), _question("q2", "q3"), _question("q3", "q1")],
}


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """A server in a child process, with its memory and CPU readable from /proc."""

    def __init__(self, name: str, command: list[str], port: int, cwd: Path, log: Path, workers: int = 1) -> None:
        self.name, self.command, self.port, self.cwd, self.log_path = name, command, port, cwd, log
        self.workers = workers  # serving processes under this one (chinwag serve --workers): ready when all started
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def ws_url(self) -> str:
        """The chat WebSocket."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> ServerProcess:
        """Start the process and return once ``/healthz`` answers."""
        self._log = self.log_path.open("ab")
        environment = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.process = subprocess.Popen(self.command, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT,
                                        env=environment, preexec_fn=pinned(SERVER_CORES))
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            if self.workers > 1:  # /healthz is answered once the first worker serves
                if self.log_path.read_text(errors="replace").count(STARTED) >= self.workers:
                    return self
                time.sleep(0.2)
                continue
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer /healthz within {READY_TIMEOUT:.0f}s; see {self.log_path}")

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.process is not None
        return self.process.pid

    def rss_kb(self) -> int:
        """Resident memory (VmRSS) in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far, every thread and every child process (workers) included."""
        total = 0
        for pid in (self.pid, *descendants(self.pid)):
            with contextlib.suppress(OSError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """Ask for a graceful shutdown (SIGINT, as Ctrl-C); kill it if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, and by them, now (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, pending = [], [pid]
    while pending:
        children = parents.get(pending.pop(), [])
        found += children
        pending += children
    return found


class ServerGroup:
    """One or more server processes behind one port: what a target of the benchmark is."""

    def __init__(self, processes: list[ServerProcess]) -> None:
        self.processes = processes
        self.name, self.port = processes[0].name, processes[0].port

    @property
    def ws_url(self) -> str:
        """The chat WebSocket."""
        return self.processes[0].ws_url

    def start(self) -> ServerGroup:
        """Start every process, one after the other."""
        for process in self.processes:
            process.start()
        return self

    def cpu_seconds(self) -> float:
        """CPU time used so far by every process of the group."""
        return sum(process.cpu_seconds() for process in self.processes)

    def rss_kb(self) -> int:
        """Resident memory of every process of the group, in KiB."""
        return sum(process.rss_kb() for process in self.processes)

    def stop(self) -> None:
        """Stop every process."""
        for process in self.processes:
            process.stop()


def chinwag_server(project: Path, log: Path, workers: int = 1) -> ServerGroup:
    """``chinwag serve`` on ``project`` (the real command, console script of this interpreter); with
    several ``workers``, ``--workers`` (processes sharing one listening socket)."""
    port = free_port()
    script = Path(sys.executable).with_name("chinwag")
    launcher = [str(script)] if script.exists() else [sys.executable, "-c", "from chinwag.cli import cli; cli()"]
    command = [*launcher, "serve", str(project), "--port", str(port), *(["--workers", str(workers)] if workers > 1 else [])]
    return ServerGroup([ServerProcess("chinwag", command, port, project, log, workers)])


def bare_server(log: Path) -> ServerGroup:
    """The bare Starlette endpoint of ``bench.bare``."""
    port = free_port()
    return ServerGroup([ServerProcess("bare", [sys.executable, "-m", "bench.bare", "--port", str(port)], port, REPO, log)])


@contextlib.contextmanager
def postgres_database(url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``url`` (dropped afterwards); its URL."""
    import sqlalchemy as sa

    admin = sa.make_url(url)
    name = f"chinwag_bench_{os.getpid()}_{int(time.time())}"
    _postgres(admin, f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        _postgres(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres(url: Any, statement: str) -> list[Any]:
    """Run one statement on ``url``'s database with asyncpg; its rows."""
    import asyncio

    import asyncpg

    async def run() -> list[Any]:
        connection = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                           password=url.password, database=url.database)
        try:
            return list(await connection.fetch(statement))
        finally:
            await connection.close()

    return asyncio.run(run())


def make_project(folder: Path, name: str = "project", limits: dict[str, Any] | None = None,
                 database: str | None = None) -> Path:
    """A project with the benchmark dialogue and a SQLite file database, or ``database`` (a
    URL), and ``limits``, if given."""
    from chinwag.testing import write_project

    # A fresh database of the benchmark's own: the server upgrades its schema (PostgreSQL would wait for db upgrade).
    url = database or "sqlite+aiosqlite:///bench.db"
    config = {"name": "chinwag benchmark", "database": {"url": url, "migrate": True}, "allowed_origins": [],
              "response_delay": 0, **({"limits": limits} if limits else {})}
    return write_project(folder / name, config, {"bench": BENCH_DIALOGUE})


def table_counts(database: Path | str) -> dict[str, int]:
    """Rows in the tables a turn writes (read from another process, as an auditor would): a SQLite
    file, or a PostgreSQL URL."""
    tables = ("sessions", "transcript", "events", "visitors")
    if isinstance(database, str):
        import sqlalchemy as sa

        query = " UNION ALL ".join(f"SELECT '{table}' AS name, count(*) AS n FROM {table}" for table in tables)
        return {row["name"]: row["n"] for row in _postgres(sa.make_url(database), query)}
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        return {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 (fixed names)
                for table in tables}


def run_load(server: ServerGroup, mode: str, visitors: int, warmup: float = 0, duration: float = 0,
             on_ready: Any = None, deflate: bool = True) -> dict[str, Any]:
    """Run ``bench.load`` against ``server``; sample the server's CPU over the measured window (the
    whole connecting, in connect mode)."""
    command = [sys.executable, "-m", "bench.load", mode, "--url", server.ws_url, "--visitors", str(visitors)]
    if not deflate:
        command.append("--no-deflate")
    if mode == "turns":
        command += ["--warmup", str(warmup), "--duration", str(duration)]
    process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, preexec_fn=pinned(LOAD_CORES))
    assert process.stdout is not None and process.stdin is not None
    result: dict[str, Any] = {}
    cpu_start = 0.0
    started = time.monotonic()
    try:
        for line in process.stdout:
            if line.startswith("WINDOW_START"):
                cpu_start = server.cpu_seconds()
            elif line.startswith("WINDOW_END"):
                result["server_cpu_seconds"] = round(server.cpu_seconds() - cpu_start, 3)
            elif line.startswith("READY "):
                result.update(on_ready(json.loads(line[6:])) if on_ready else {})
                process.stdin.write("stop\n")
                process.stdin.flush()
            elif line.startswith("RESULT "):
                result.update(json.loads(line[7:]))
            if time.monotonic() - started > LOAD_TIMEOUT:
                break
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if "visitors" not in result:
        raise RuntimeError(f"the load generator failed (exit {process.returncode})")
    window = duration if mode == "turns" else result.get("connect_seconds")
    if "server_cpu_seconds" in result and window:
        result["server_cpu_percent"] = round(100 * result["server_cpu_seconds"] / window, 1)
    return result


def turns_phase(server: ServerGroup, visitors: int, warmup: float, duration: float,
                database: Path | str | None) -> dict[str, Any]:
    """One measured phase; for chinwag also the durability check against the database."""
    before = table_counts(database) if database else None
    result = run_load(server, "turns", visitors, warmup, duration)
    if result.get("turns_window") and "server_cpu_seconds" in result:
        result["server_cpu_ms_per_turn"] = round(1000 * result["server_cpu_seconds"] / result["turns_window"], 3)
    if database and before is not None:
        after = table_counts(database)
        added = {table: after[table] - before[table] for table in after}
        # A new session stores its first question; every turn the answered frame and the next question.
        expected = result["sessions"] + 2 * result["turns_total"]
        result["durability"] = {"transcript_rows_added": added["transcript"], "transcript_rows_expected": expected,
                                "sessions_added": added["sessions"], "events_added": added["events"],
                                "ok": added["transcript"] == expected and added["sessions"] == result["sessions"]}
    return result


def connect_phase(server: ServerGroup, visitors: int, database: Path | str | None) -> dict[str, Any]:
    """``visitors`` new visitors connecting and greeted (``hello`` to their first question), at most
    ``bench.load.CONNECT_CONCURRENCY`` at once; for chinwag also what was stored for them."""
    before = table_counts(database) if database else None
    result = run_load(server, "connect", visitors)
    if result.get("connected") and "server_cpu_seconds" in result:
        result["server_cpu_ms_per_visitor"] = round(1000 * result["server_cpu_seconds"] / result["connected"], 3)
    if database and before is not None:
        after = table_counts(database)
        added = {table: after[table] - before[table] for table in after}
        # Each greeted visitor: a visitor row, a session and its first question in the transcript.
        result["durability"] = {"visitors_added": added["visitors"], "sessions_added": added["sessions"],
                                "transcript_rows_added": added["transcript"], "transcript_rows_expected": result["sessions"],
                                "ok": added["visitors"] == added["sessions"] == added["transcript"] == result["sessions"]}
    return result


def idle_phase(server: ServerGroup, visitors: int, deflate: bool = True) -> dict[str, Any]:
    """Resident memory per connected idle visitor (after a small warm-up so imports are paid)."""
    run_load(server, "turns", 20, warmup=0.5, duration=1.0)
    time.sleep(IDLE_SETTLE)
    baseline = server.rss_kb()

    def measure(ready: dict[str, Any]) -> dict[str, Any]:
        time.sleep(IDLE_SETTLE)
        held = server.rss_kb()
        connected = max(1, ready["connected"])
        return {"rss_before_kb": baseline, "rss_idle_kb": held, "connect_seconds": ready["connect_seconds"],
                "kb_per_idle_visitor": round((held - baseline) / connected, 1)}

    return {"deflate": deflate, **run_load(server, "idle", visitors, on_ready=measure, deflate=deflate)}


def _median(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return round(statistics.median(present), 2) if present else None


def summarize(phases: list[dict[str, Any]], visitor_counts: list[int],
              targets: tuple[str, ...] = TARGETS) -> dict[int, dict[str, Any]]:
    """Medians per target and visitor count; for each target but bare the ratios to bare of the
    median rates, of the p99 latencies and of the CPU per turn, and the ratio of each round (both
    ran in the same round); with the limits target, the ratio limits/chinwag too."""
    summary: dict[int, dict[str, Any]] = {}
    for count in visitor_counts:
        row: dict[str, Any] = {}
        runs = {target: [phase for phase in phases if phase["target"] == target and phase.get("mode", "turns") == "turns"
                         and phase["visitors"] == count] for target in targets}
        for target in targets:
            row[target] = {key: _median([run.get(key) for run in runs[target]])
                           for key in ("turns_per_second", "p50_ms", "p99_ms", "server_cpu_percent", "client_cpu_percent",
                                       "server_cpu_ms_per_turn")}
            row[target]["runs"] = len(runs[target])
        for target in targets[1:]:
            row[f"{target}_vs_bare"] = _ratios(row[target], row["bare"], runs[target], runs["bare"])
        row["ratio"] = row["chinwag_vs_bare"]["turns"]  # the headline figure, as before
        if LIMITS_TARGET in targets:
            limited = row[LIMITS_TARGET]["turns_per_second"]
            chinwag = row["chinwag"]["turns_per_second"]
            row["limits_ratio"] = round(limited / chinwag, 3) if chinwag and limited is not None else None
            row["limits_round_ratios"] = [round(l["turns_per_second"] / c["turns_per_second"], 3) for c, l in zip(
                runs["chinwag"], runs[LIMITS_TARGET]) if c["turns_per_second"]]
        summary[count] = row
    return summary


def _ratios(target: dict[str, Any], bare: dict[str, Any], target_runs: list[dict[str, Any]],
            bare_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A target's figures against bare's: turns/s (median and per round), p99 and CPU per turn."""
    def ratio(numerator: float | None, denominator: float | None) -> float | None:
        return round(numerator / denominator, 3) if numerator is not None and denominator else None

    # Each ratio is the median of the rounds' ratios: both ran in the same round, under the same load.
    pairs = list(zip(target_runs, bare_runs))
    per_round = [ratio(t["turns_per_second"], b["turns_per_second"]) for t, b in pairs]
    return {"turns": _median(per_round), "turns_per_round": per_round,
            "p99": _median([ratio(t["p99_ms"], b["p99_ms"]) for t, b in pairs]),
            # bare's CPU per turn over the target's: the share of bare's rate the target would reach
            # were both CPU-bound on the same core
            "cpu_efficiency": _median([ratio(b.get("server_cpu_ms_per_turn"), t.get("server_cpu_ms_per_turn"))
                                       for t, b in pairs])}


def summarize_connects(phases: list[dict[str, Any]], targets: tuple[str, ...]) -> dict[str, Any]:
    """Medians of the connect phases per target, and each target's greeting rate over bare's."""
    summary: dict[str, Any] = {}
    runs = {target: [phase for phase in phases if phase["target"] == target and phase.get("mode") == "connect"]
            for target in targets}
    for phase in phases:  # results saved before this figure was recorded
        if phase.get("mode") == "connect" and "server_cpu_ms_per_visitor" not in phase and phase.get("connected"):
            phase["server_cpu_ms_per_visitor"] = round(1000 * phase["server_cpu_seconds"] / phase["connected"], 3)
    if not runs["bare"]:
        return summary
    for target in targets:
        summary[target] = {key: _median([run.get(key) for run in runs[target]])
                           for key in ("greeted_per_second", "greet_p50_ms", "greet_p99_ms", "server_cpu_percent",
                                       "client_cpu_percent", "connect_seconds", "server_cpu_ms_per_visitor")}
        summary[target]["runs"] = len(runs[target])
    for target in targets[1:]:  # the median of the rounds' ratios, as for turns
        summary[target]["round_ratios"] = [round(t["greeted_per_second"] / b["greeted_per_second"], 3)
                                           for t, b in zip(runs[target], runs["bare"]) if b["greeted_per_second"]]
        summary[target]["ratio"] = _median(summary[target]["round_ratios"])
    return summary


def run(visitor_counts: list[int], idle: int, rounds: int, warmup: float, duration: float,
        workdir: Path | None = None, idle_without_deflate: bool = False, limits: bool = False,
        connect: int = 0, postgres: str | None = None) -> dict[str, Any]:
    """The whole benchmark; returns every phase, the medians and the idle-memory figures.

    ``limits``: also run chinwag with every abuse limit on, in the same rounds (its own project and
    database). ``connect``: visitors of each round's connect phase (0: none). ``postgres``: a
    PostgreSQL URL; also run ``chinwag serve --workers 2`` on a fresh database there.
    """
    raise_fd_limit()  # inherited by every child: servers and load generator hold thousands of sockets
    targets = (*TARGETS, *([LIMITS_TARGET] if limits else []), *([POSTGRES_TARGET] if postgres else []))
    with _workdir(workdir) as folder, (postgres_database(postgres) if postgres else contextlib.nullcontext()) as pg_url:
        project = make_project(folder)
        databases: dict[str, Path | str] = {"chinwag": project / "bench.db"}
        phases: list[dict[str, Any]] = []
        servers = {"bare": bare_server(folder / "bare.log"), "chinwag": chinwag_server(project, folder / "chinwag.log")}
        if limits:
            limited = make_project(folder, "project-limits", BENCH_LIMITS)
            databases[LIMITS_TARGET] = limited / "bench.db"
            servers[LIMITS_TARGET] = chinwag_server(limited, folder / "limits.log")
        if pg_url:
            databases[POSTGRES_TARGET] = pg_url
            servers[POSTGRES_TARGET] = chinwag_server(make_project(folder, "project-postgres", database=pg_url),
                                                      folder / "postgres.log", POSTGRES_PROCESSES)
        try:
            for server in servers.values():
                server.start()
            for round_number in range(rounds):
                order = targets if round_number % 2 == 0 else targets[::-1]
                for count in visitor_counts:
                    for target in order:
                        result = turns_phase(servers[target], count, warmup, duration, databases.get(target))
                        phases.append({"target": target, "mode": "turns", "round": round_number + 1, **result})
                        _report_phase(phases[-1])
                for target in order if connect else ():
                    result = connect_phase(servers[target], connect, databases.get(target))
                    phases.append({"target": target, "mode": "connect", "round": round_number + 1, **result})
                    _report_phase(phases[-1])
        finally:
            for server in servers.values():
                server.stop()
        idle_results: dict[str, Any] = {}
        variants = [(target, True) for target in TARGETS] + (
            [(target, False) for target in TARGETS] if idle_without_deflate else [])
        for target, deflate in variants if idle else []:
            label = target if deflate else f"{target} (no deflate)"
            # A fresh process: memory freed by the turn phases would otherwise hide the cost.
            server = bare_server(folder / "bare-idle.log") if target == "bare" else chinwag_server(
                project, folder / "chinwag-idle.log")
            try:
                idle_results[label] = idle_phase(server.start(), idle, deflate)
            finally:
                server.stop()
            print(f"idle {label:8} {json.dumps(idle_results[label])}", file=sys.stderr, flush=True)
    return {"machine": _machine(), "settings": {"visitors": visitor_counts, "idle": idle, "rounds": rounds,
                                                "warmup_s": warmup, "window_s": duration, "connect": connect,
                                                "targets": list(targets), "server_cores": sorted(SERVER_CORES or []),
                                                "load_cores": sorted(LOAD_CORES or []),
                                                "postgres_processes": POSTGRES_PROCESSES if postgres else 0},
            "phases": phases, "summary": summarize(phases, visitor_counts, targets),
            "connects": summarize_connects(phases, targets) if connect else {}, "idle": idle_results}


@contextlib.contextmanager
def _workdir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="chinwag-bench-") as folder:
        yield Path(folder)


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform(),
            "processor": _cpu_model()}


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _report_phase(phase: dict[str, Any]) -> None:
    durability = phase.get("durability")
    stored = "" if durability is None else f" stored={'ok' if durability['ok'] else 'MISMATCH'}"
    if phase.get("mode") == "connect":
        figures = (f"{phase['greeted_per_second']:8.1f} greeted/s  ({phase['connected']} in {phase['connect_seconds']} s, "
                   f"p50 {phase['greet_p50_ms']} ms  p99 {phase['greet_p99_ms']} ms)")
    else:
        figures = (f"{phase['turns_per_second']:8.1f} turns/s  p50 {phase['p50_ms']} ms  p99 {phase['p99_ms']} ms  "
                   f"cpu/turn {phase.get('server_cpu_ms_per_turn')} ms")
    print(f"round {phase['round']} {phase['target']:8} {phase['visitors']:5} visitors: {figures}  "
          f"server cpu {phase.get('server_cpu_percent')}%  client cpu {phase['client_cpu_percent']}%"
          f"{stored}{'  errors ' + json.dumps(phase['errors']) if phase['errors'] else ''}", file=sys.stderr, flush=True)


def _figure(value: Any) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:,.2f}".rstrip("0").rstrip(".")


def format_report(results: dict[str, Any]) -> str:
    """The Markdown tables of ``docs/benchmarks.md``."""
    settings = results["settings"]
    targets = settings.get("targets", list(TARGETS))
    lines = ["| visitors | server | turns/s | ratio to bare (per round) | p50 ms | p99 ms | p99 / bare's | "
             "server CPU ms/turn | bare's CPU/turn over its | server CPU % | load CPU % |",
             "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for count, row in results["summary"].items():
        for target in targets:
            figures, ratios = row[target], row.get(f"{target}_vs_bare")
            per_round = ", ".join(_figure(value) for value in ratios["turns_per_round"]) if ratios else ""
            lines.append(f"| {int(count):,} | {target} | {_figure(figures['turns_per_second'])} | "
                         f"{'**' + _figure(ratios['turns']) + '** (' + per_round + ')' if ratios else ''} | "
                         f"{_figure(figures['p50_ms'])} | {_figure(figures['p99_ms'])} | "
                         f"{_figure(ratios['p99']) if ratios else ''} | {_figure(figures['server_cpu_ms_per_turn'])} | "
                         f"{_figure(ratios['cpu_efficiency']) if ratios else ''} | {_figure(figures['server_cpu_percent'])} | "
                         f"{_figure(figures['client_cpu_percent'])} |")
    if any("limits_ratio" in row for row in results["summary"].values()):
        lines += ["", "| visitors | chinwag turns/s | with limits turns/s | ratio limits/chinwag | per round | "
                      "with limits p50 ms | with limits p99 ms |", "|---:|---:|---:|---:|---|---:|---:|"]
        for count, row in results["summary"].items():
            limited = row[LIMITS_TARGET]
            lines.append(f"| {int(count):,} | {row['chinwag']['turns_per_second']} | {limited['turns_per_second']} | "
                         f"{row['limits_ratio']} | {', '.join(map(str, row['limits_round_ratios']))} | "
                         f"{limited['p50_ms']} | {limited['p99_ms']} |")
    if results.get("connects"):
        lines += ["", f"| {settings['connect']:,} visitors connecting | greeted/s | ratio to bare (per round) | "
                      "greeting p50 ms | greeting p99 ms | server CPU ms/visitor | server CPU % | load CPU % |",
                  "|---|---:|---|---:|---:|---:|---:|---:|"]
        for target in targets:
            figures = results["connects"][target]
            per_round = ", ".join(_figure(value) for value in figures.get("round_ratios", []))
            ratio = f"**{_figure(figures['ratio'])}** ({per_round})" if "ratio" in figures else ""
            lines.append(f"| {target} | {_figure(figures['greeted_per_second'])} | {ratio} | "
                         f"{_figure(figures['greet_p50_ms'])} | {_figure(figures['greet_p99_ms'])} | "
                         f"{_figure(figures['server_cpu_ms_per_visitor'])} | {_figure(figures['server_cpu_percent'])} | "
                         f"{_figure(figures['client_cpu_percent'])} |")
    if results["idle"]:
        lines += ["", "| idle visitors | server | RSS before (KiB) | RSS idle (KiB) | KiB per idle visitor |",
                  "|---:|---|---:|---:|---:|"]
        for target, idle in results["idle"].items():
            lines.append(f"| {idle['connected']:,} | {target} | {idle['rss_before_kb']:,} | {idle['rss_idle_kb']:,} | "
                         f"{idle['kb_per_idle_visitor']} |")
    stored = [phase for phase in results["phases"] if "durability" in phase]
    if stored:
        rows = sum(phase["durability"]["transcript_rows_added"] for phase in stored)
        ok = all(phase["durability"]["ok"] for phase in stored)
        lines += ["", f"Durability: {rows:,} transcript rows added over {len(stored)} chinwag phases; "
                      f"{'every phase matched' if ok else 'MISMATCH in some phase'} what the visitors counted."]
    errors = sum(sum(phase["errors"].values()) for phase in results["phases"])
    lines.append(f"Error frames and failed visitors over all phases: {errors}.")
    placement_note = (f"servers on core(s) {settings['server_cores']}, load generator on {settings['load_cores']}"
                      if settings.get("server_cores") else "no pinning (fewer than two cores)")
    lines.append(f"Placement: {placement_note}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line entry point; prints the Markdown report and returns the results."""
    parser = argparse.ArgumentParser(description="chinwag chat benchmark: turns/s, latency, connects, idle memory")
    parser.add_argument("--visitors", default="100,1000", help="comma-separated concurrent visitor counts")
    parser.add_argument("--connect", type=int, default=2000,
                        help="visitors connecting and greeted in each round's connect phase (0: skip)")
    parser.add_argument("--idle", type=int, default=5000, help="idle visitors for the memory figure (0: skip)")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the targets per visitor count")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per phase")
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help=f"also run chinwag serve --workers {POSTGRES_PROCESSES} on a fresh database of this "
                             "PostgreSQL server (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test)")
    parser.add_argument("--idle-without-deflate", action="store_true",
                        help="also measure idle memory with clients that do not offer permessage-deflate")
    parser.add_argument("--quick", action="store_true",
                        help="short smoke run: 1 round, 4 s windows, 300 connecting, 500 idle")
    parser.add_argument("--limits", action="store_true",
                        help="also run chinwag with every abuse limit on (limits:), in the same rounds")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (logs, database)")
    parser.add_argument("--report", type=Path, default=None, metavar="JSON",
                        help="run nothing: print the report of results saved earlier with --json")
    args = parser.parse_args(argv)
    if args.report:
        saved = json.loads(args.report.read_text())
        targets = tuple(saved["settings"].get("targets", TARGETS))
        saved["summary"] = summarize(saved["phases"], saved["settings"]["visitors"], targets)
        saved["connects"] = summarize_connects(saved["phases"], targets) if saved["settings"].get("connect") else {}
        print(format_report(saved))
        return saved
    if args.quick:
        args.rounds, args.warmup, args.duration = 1, 1.0, 4.0
        args.idle, args.connect = min(args.idle, 500), min(args.connect, 300)
    counts = [int(value) for value in args.visitors.split(",") if value.strip()]
    results = run(counts, args.idle, args.rounds, args.warmup, args.duration, args.keep, args.idle_without_deflate,
                  args.limits, args.connect, args.postgres)
    print(format_report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()

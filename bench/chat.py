"""The core chat benchmark: chinwag against the bare WebSocket stack, turns and idle memory.

In one run it starts, each in its own process:

* the real server, ``chinwag serve`` on a temporary project whose dialogue is a loop of three
  button questions (every answer is a full turn: engine, SQLite transaction, frames back);
* a bare Starlette endpoint (``bench.bare``) under the same uvicorn settings: the stack's limit;
* the load generator (``bench.load``), so visitors never share the servers' interpreter.

For each visitor count it runs bare and chinwag alternately (``--rounds`` times, the order
flipping every round) and reports medians: turns per second, p50/p99 turn latency and the ratio
chinwag/bare. After each chinwag phase it counts the ``transcript`` rows the phase added and
checks them against the turns the visitors counted. Then, on fresh server processes, it holds
``--idle`` connected visitors and reports resident memory per idle visitor.

    python -m bench.chat                       # 100 and 1,000 visitors, 5,000 idle, 2 rounds
    python -m bench.chat --quick               # a one-minute smoke run
    python -m bench.chat --visitors 100,1000 --idle 5000 --rounds 3 --json results.json
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
# With --limits, a third target: chinwag with every abuse limit on (``limits:``), set high enough
# that the benchmark's visitors, all from one address, are never refused: the figure is their cost.
LIMITS_TARGET = "limits"
BENCH_LIMITS = {"connections_per_address": 100_000, "hellos_per_address": {"count": 1_000_000, "per_seconds": 3600},
                "frames_per_second": 1000, "meetings_per_email_per_day": 3, "meetings_per_visitor": 3,
                "blocked_email_domains": [f"blocked{n}.example" for n in range(50)]}
READY_TIMEOUT = 60.0
LOAD_TIMEOUT = 600.0  # one load-generator process never outlives this many seconds
IDLE_SETTLE = 3.0  # seconds to let the server settle before reading its memory


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

    def __init__(self, name: str, command: list[str], port: int, cwd: Path, log: Path) -> None:
        self.name, self.command, self.port, self.cwd, self.log_path = name, command, port, cwd, log
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
                                        env=environment)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
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
        """User + system CPU time used so far, every thread included."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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


def chinwag_server(project: Path, log: Path) -> ServerProcess:
    """``chinwag serve`` on ``project`` (the real command, console script of this interpreter)."""
    port = free_port()
    script = Path(sys.executable).with_name("chinwag")
    launcher = [str(script)] if script.exists() else [sys.executable, "-c", "from chinwag.cli import cli; cli()"]
    return ServerProcess("chinwag", [*launcher, "serve", str(project), "--port", str(port)], port, project, log)


def bare_server(log: Path) -> ServerProcess:
    """The bare Starlette endpoint of ``bench.bare``."""
    port = free_port()
    return ServerProcess("bare", [sys.executable, "-m", "bench.bare", "--port", str(port)], port, REPO, log)


def make_project(folder: Path, name: str = "project", limits: dict[str, Any] | None = None,
                 database: str | None = None) -> Path:
    """A project with the benchmark dialogue and a SQLite file database, or ``database`` (a
    URL), and ``limits``, if given."""
    from chinwag.testing import write_project

    config = {"name": "chinwag benchmark", "database": database or "sqlite+aiosqlite:///bench.db", "allowed_origins": [],
              "response_delay": 0, **({"limits": limits} if limits else {})}
    return write_project(folder / name, config, {"bench": BENCH_DIALOGUE})


def table_counts(database: Path) -> dict[str, int]:
    """Rows in the tables a turn writes (read from another process, as an auditor would)."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        return {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 (fixed names)
                for table in ("sessions", "transcript", "events")}


def run_load(server: ServerProcess, mode: str, visitors: int, warmup: float = 0, duration: float = 0,
             on_ready: Any = None, deflate: bool = True) -> dict[str, Any]:
    """Run ``bench.load`` against ``server``; sample the server's CPU over the measured window."""
    command = [sys.executable, "-m", "bench.load", mode, "--url", server.ws_url, "--visitors", str(visitors)]
    if not deflate:
        command.append("--no-deflate")
    if mode == "turns":
        command += ["--warmup", str(warmup), "--duration", str(duration)]
    process = subprocess.Popen(command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert process.stdout is not None and process.stdin is not None
    result: dict[str, Any] = {}
    cpu_start = 0.0
    started = time.monotonic()
    try:
        for line in process.stdout:
            if line.startswith("WINDOW_START"):
                cpu_start = server.cpu_seconds()
            elif line.startswith("WINDOW_END"):
                result["server_cpu_percent"] = round(100 * (server.cpu_seconds() - cpu_start) / duration, 1)
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
    return result


def turns_phase(server: ServerProcess, visitors: int, warmup: float, duration: float,
                database: Path | None) -> dict[str, Any]:
    """One measured phase; for chinwag also the durability check against the database."""
    before = table_counts(database) if database else None
    result = run_load(server, "turns", visitors, warmup, duration)
    if database and before is not None:
        after = table_counts(database)
        added = {table: after[table] - before[table] for table in after}
        # A new session stores its first question; every turn the answered frame and the next question.
        expected = result["sessions"] + 2 * result["turns_total"]
        result["durability"] = {"transcript_rows_added": added["transcript"], "transcript_rows_expected": expected,
                                "sessions_added": added["sessions"], "events_added": added["events"],
                                "ok": added["transcript"] == expected and added["sessions"] == result["sessions"]}
    return result


def idle_phase(server: ServerProcess, visitors: int, deflate: bool = True) -> dict[str, Any]:
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
    """Medians per target and visitor count, the ratio chinwag/bare of the median rates and, with
    the limits target, the ratio limits/chinwag (per round too: both ran in the same round)."""
    summary: dict[int, dict[str, Any]] = {}
    for count in visitor_counts:
        row: dict[str, Any] = {}
        for target in targets:
            runs = [phase for phase in phases if phase["target"] == target and phase["visitors"] == count]
            row[target] = {key: _median([run[key] for run in runs])
                           for key in ("turns_per_second", "p50_ms", "p99_ms", "server_cpu_percent", "client_cpu_percent")}
            row[target]["runs"] = len(runs)
        bare, chinwag = row["bare"]["turns_per_second"], row["chinwag"]["turns_per_second"]
        row["ratio"] = round(chinwag / bare, 3) if bare and chinwag is not None else None
        row["round_ratios"] = [round(c["turns_per_second"] / b["turns_per_second"], 3) for b, c in zip(
            *([p for p in phases if p["target"] == t and p["visitors"] == count] for t in TARGETS)) if b["turns_per_second"]]
        if LIMITS_TARGET in targets:
            limited = row[LIMITS_TARGET]["turns_per_second"]
            row["limits_ratio"] = round(limited / chinwag, 3) if chinwag and limited is not None else None
            row["limits_round_ratios"] = [round(l["turns_per_second"] / c["turns_per_second"], 3) for c, l in zip(
                *([p for p in phases if p["target"] == t and p["visitors"] == count] for t in ("chinwag", LIMITS_TARGET)))
                if c["turns_per_second"]]
        summary[count] = row
    return summary


def run(visitor_counts: list[int], idle: int, rounds: int, warmup: float, duration: float,
        workdir: Path | None = None, idle_without_deflate: bool = False, limits: bool = False) -> dict[str, Any]:
    """The whole benchmark; returns every phase, the medians and the idle-memory figures.

    ``limits``: also run chinwag with every abuse limit on, in the same rounds (its own project and database).
    """
    raise_fd_limit()  # inherited by every child: servers and load generator hold thousands of sockets
    targets = (*TARGETS, LIMITS_TARGET) if limits else TARGETS
    with _workdir(workdir) as folder:
        project = make_project(folder)
        databases = {"chinwag": project / "bench.db"}
        phases: list[dict[str, Any]] = []
        servers = {"bare": bare_server(folder / "bare.log"), "chinwag": chinwag_server(project, folder / "chinwag.log")}
        if limits:
            limited = make_project(folder, "project-limits", BENCH_LIMITS)
            databases[LIMITS_TARGET] = limited / "bench.db"
            servers[LIMITS_TARGET] = chinwag_server(limited, folder / "limits.log")
        try:
            for server in servers.values():
                server.start()
            for round_number in range(rounds):
                order = targets if round_number % 2 == 0 else targets[::-1]
                for count in visitor_counts:
                    for target in order:
                        result = turns_phase(servers[target], count, warmup, duration, databases.get(target))
                        phases.append({"target": target, "round": round_number + 1, **result})
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
                                                "warmup_s": warmup, "window_s": duration},
            "phases": phases, "summary": summarize(phases, visitor_counts, targets), "idle": idle_results}


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
    print(f"round {phase['round']} {phase['target']:8} {phase['visitors']:5} visitors: "
          f"{phase['turns_per_second']:8.1f} turns/s  p50 {phase['p50_ms']} ms  p99 {phase['p99_ms']} ms  "
          f"server cpu {phase.get('server_cpu_percent')}%  client cpu {phase['client_cpu_percent']}%"
          f"{stored}{'  errors ' + json.dumps(phase['errors']) if phase['errors'] else ''}", file=sys.stderr, flush=True)


def format_report(results: dict[str, Any]) -> str:
    """The Markdown tables of ``docs/benchmarks.md``."""
    lines = ["| visitors | bare turns/s | chinwag turns/s | ratio | chinwag p50 ms | chinwag p99 ms | bare p50 ms | bare p99 ms |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for count, row in results["summary"].items():
        bare, chinwag = row["bare"], row["chinwag"]
        lines.append(f"| {int(count):,} | {bare['turns_per_second']} | {chinwag['turns_per_second']} | {row['ratio']} | "
                     f"{chinwag['p50_ms']} | {chinwag['p99_ms']} | {bare['p50_ms']} | {bare['p99_ms']} |")
    if any("limits_ratio" in row for row in results["summary"].values()):
        lines += ["", "| visitors | chinwag turns/s | with limits turns/s | ratio limits/chinwag | per round | "
                      "with limits p50 ms | with limits p99 ms |", "|---:|---:|---:|---:|---|---:|---:|"]
        for count, row in results["summary"].items():
            limited = row[LIMITS_TARGET]
            lines.append(f"| {int(count):,} | {row['chinwag']['turns_per_second']} | {limited['turns_per_second']} | "
                         f"{row['limits_ratio']} | {', '.join(map(str, row['limits_round_ratios']))} | "
                         f"{limited['p50_ms']} | {limited['p99_ms']} |")
    if results["idle"]:
        lines += ["", "| idle visitors | server | RSS before (KiB) | RSS idle (KiB) | KiB per idle visitor |",
                  "|---:|---|---:|---:|---:|"]
        for target, idle in results["idle"].items():
            lines.append(f"| {idle['connected']:,} | {target} | {idle['rss_before_kb']:,} | {idle['rss_idle_kb']:,} | "
                         f"{idle['kb_per_idle_visitor']} |")
    stored = [phase["durability"] for phase in results["phases"] if "durability" in phase]
    if stored:
        rows = sum(item["transcript_rows_added"] for item in stored)
        ok = all(item["ok"] for item in stored)
        lines += ["", f"Durability: {rows:,} transcript rows added over {len(stored)} chinwag phases; "
                      f"{'every phase matched' if ok else 'MISMATCH in some phase'} the turns the visitors counted."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line entry point; prints the Markdown report and returns the results."""
    parser = argparse.ArgumentParser(description="chinwag chat benchmark: turns/s, latency, idle memory")
    parser.add_argument("--visitors", default="100,1000", help="comma-separated concurrent visitor counts")
    parser.add_argument("--idle", type=int, default=5000, help="idle visitors for the memory figure (0: skip)")
    parser.add_argument("--rounds", type=int, default=2, help="bare/chinwag alternations per visitor count")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per phase")
    parser.add_argument("--idle-without-deflate", action="store_true",
                        help="also measure idle memory with clients that do not offer permessage-deflate")
    parser.add_argument("--quick", action="store_true", help="short smoke run: 1 round, 4 s windows, 500 idle")
    parser.add_argument("--limits", action="store_true",
                        help="also run chinwag with every abuse limit on (limits:), in the same rounds")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it (logs, database)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.warmup, args.duration, args.idle = 1, 1.0, 4.0, min(args.idle, 500)
    counts = [int(value) for value in args.visitors.split(",") if value.strip()]
    results = run(counts, args.idle, args.rounds, args.warmup, args.duration, args.keep, args.idle_without_deflate,
                  args.limits)
    print(format_report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()

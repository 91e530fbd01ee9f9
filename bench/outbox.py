"""What the durable outbox costs a chat turn: the chat benchmark with and without a consumer.

Two ``chinwag serve`` processes run the chat benchmark's dialogue (``bench.chat``) on SQLite,
alike but for one thing: the second has a CRM connector (``chinwag-loopback-crm``, real HTTP to
a remote CRM served by this process on loopback) that asks for every event, so every turn also
writes an outbox row in its transaction and the delivery worker sends batches while the load
runs. The two are measured alternately (the order flipping every round) and the report gives
the median turns per second of each and their ratio. After each phase with the connector it
waits until every outbox row is delivered and checks that the remote applied each event once.

    python -m bench.outbox                     # 100 visitors, 3 rounds
    python -m bench.outbox --visitors 100,1000 --rounds 3 --json results.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from .chat import BENCH_DIALOGUE, ServerGroup, _machine, _workdir, chinwag_server, run_load
from .load import raise_fd_limit

VARIANTS = ("without consumer", "with consumer")
DRAIN_TIMEOUT = 300.0


def make_projects(folder: Path, remote_url: str) -> dict[str, Path]:
    """The two projects: identical, but the second configures the CRM connector."""
    from chinwag.testing import write_project

    base = {"name": "chinwag benchmark", "database": "sqlite+aiosqlite:///bench.db", "allowed_origins": [],
            "response_delay": 0}
    # Batches of 300, Marketo's limit; the outbox's delivery settings are the defaults.
    connector = {"plugins": {"loopback_crm": {"base_url": remote_url, "batch_size": 300}}}
    return {VARIANTS[0]: write_project(folder / "plain", base, {"bench": BENCH_DIALOGUE}),
            VARIANTS[1]: write_project(folder / "crm", {**base, **connector}, {"bench": BENCH_DIALOGUE})}


def outbox_states(database: Path) -> dict[str, int]:
    """Outbox rows by state, read from another process."""
    with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
        return dict(connection.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())


def wait_drained(database: Path) -> float:
    """Seconds until no outbox row is pending."""
    started = time.monotonic()
    while outbox_states(database).get("pending", 0):
        if time.monotonic() - started > DRAIN_TIMEOUT:
            raise RuntimeError(f"the outbox did not drain in {DRAIN_TIMEOUT} s")
        time.sleep(0.2)
    return round(time.monotonic() - started, 2)


def run(visitor_counts: list[int], rounds: int, warmup: float, duration: float,
        workdir: Path | None = None) -> dict[str, Any]:
    """Alternate the two servers under the same load; return every phase and the medians."""
    from chinwag.sandbox import serve_in_thread
    from chinwag_loopback_crm.remote import RemoteCrm, remote_app

    raise_fd_limit()
    state = RemoteCrm()
    phases: list[dict[str, Any]] = []
    with _workdir(workdir) as folder, serve_in_thread(remote_app(state), state, lambda url, _: {}, label="remote CRM") as remote:
        projects = make_projects(folder, remote.url)
        servers: dict[str, ServerGroup] = {
            variant: chinwag_server(project, folder / f"{variant.replace(' ', '-')}.log")
            for variant, project in projects.items()}
        try:
            for server in servers.values():
                server.start()
            for round_number in range(rounds):
                order = VARIANTS if round_number % 2 == 0 else VARIANTS[::-1]
                for count in visitor_counts:
                    for variant in order:
                        result = run_load(servers[variant], "turns", count, warmup, duration)
                        if variant == VARIANTS[1]:
                            result["drain_seconds"] = wait_drained(projects[variant] / "bench.db")
                        phases.append({"variant": variant, "round": round_number + 1, "visitors": count, **result})
                        print(f"round {round_number + 1} {variant:16} {count:>5} visitors: "
                              f"{result['turns_per_second']:>8.0f} turns/s  p99 {result['p99_ms']} ms"
                              + (f"  drained in {result['drain_seconds']} s" if "drain_seconds" in result else ""),
                              file=sys.stderr, flush=True)
        finally:
            for server in servers.values():
                server.stop()
        database = projects[VARIANTS[1]] / "bench.db"
        with contextlib.closing(sqlite3.connect(database)) as connection:
            events = connection.execute("SELECT count(*) FROM events").fetchone()[0]
        keys = state.applied_keys()
        delivery = {"events": events, "applied": len(keys), "applied_once": len(keys) == len(set(keys)),
                    "outbox": outbox_states(database)}
    return {"machine": _machine(), "settings": {"visitors": visitor_counts, "rounds": rounds, "warmup_s": warmup,
                                                "window_s": duration},
            "phases": phases, "summary": summarize(phases, visitor_counts), "delivery": delivery}


def summarize(phases: list[dict[str, Any]], visitor_counts: list[int]) -> dict[int, dict[str, Any]]:
    """Median turns per second and p99 per variant, and the ratio with/without, per visitor count."""
    summary: dict[int, dict[str, Any]] = {}
    for count in visitor_counts:
        row: dict[str, Any] = {}
        for variant in VARIANTS:
            runs = [phase for phase in phases if phase["variant"] == variant and phase["visitors"] == count]
            row[variant] = {"turns_per_second": round(statistics.median(run["turns_per_second"] for run in runs), 1),
                            "p99_ms": round(statistics.median(run["p99_ms"] for run in runs), 1)}
        without, with_ = (row[variant]["turns_per_second"] for variant in VARIANTS)
        row["ratio"] = round(with_ / without, 3) if without else None
        summary[count] = row
    return summary


def format_report(results: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    lines = ["| visitors | without consumer turns/s | with consumer turns/s | ratio | p99 without / with (ms) |",
             "|---|---|---|---|---|"]
    for count, row in results["summary"].items():
        lines.append(f"| {count} | {row[VARIANTS[0]]['turns_per_second']:,.0f} | "
                     f"{row[VARIANTS[1]]['turns_per_second']:,.0f} | **{row['ratio']}** | "
                     f"{row[VARIANTS[0]]['p99_ms']} / {row[VARIANTS[1]]['p99_ms']} |")
    delivery = results["delivery"]
    lines.append(f"\nDelivered: {delivery['applied']} of {delivery['events']} events applied at the remote, "
                 f"each once: {delivery['applied_once']}; outbox {delivery['outbox']}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: run, print the report, optionally write JSON."""
    parser = argparse.ArgumentParser(description="chinwag outbox benchmark: turns/s with and without a consumer")
    parser.add_argument("--visitors", default="100", help="comma-separated concurrent visitor counts")
    parser.add_argument("--rounds", type=int, default=3, help="alternations per visitor count")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per phase")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    options = parser.parse_args(argv)
    results = run([int(v) for v in options.visitors.split(",")], options.rounds, options.warmup, options.duration,
                  options.keep)
    print(format_report(results))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()

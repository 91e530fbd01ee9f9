"""Marketo API calls per 1,000 captured leads under a burst: what batching saves.

A ``chinwag serve`` process with the Marketo connector (pointed at the Marketo sandbox, served
by this process on loopback) takes a burst of visitors who each give an email and reach a goal;
the benchmark waits for the outbox to drain and counts the sandbox's REST calls by kind. In the
same run, a baseline: the same connector with batches of one (``batch_size: 1``,
``batch_wait: 0``), on a smaller burst (a call per record is linear in the leads, and Marketo's
rate limit makes it slow). Target: at most 10 write-back calls per 1,000 captured leads.

    python -m bench.marketo_calls                      # 1,000 leads, baseline 60
    python -m bench.marketo_calls --leads 2000 --baseline-leads 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

DIALOGUE = {"id": "signup", "name": "Sign up", "cards": [
    {"id": "email", "type": "capture", "input": "email", "text": "Your work email?", "field": "lead.email"},
    {"id": "goal", "type": "goal", "goal": "signed-up"},
    {"id": "bye", "type": "end", "text": "Thanks!"}]}
DRAIN_TIMEOUT = 900.0


def write(folder: Path, base: dict[str, Any], marketo: dict[str, Any]) -> Path:
    """A project with the sign-up dialogue and Marketo settings."""
    from chinwag.testing import write_project

    return write_project(folder, {"name": "marketo calls", "response_delay": 0, "database": "sqlite+aiosqlite:///calls.db",
                                  "plugins": {"marketo": {**base, **marketo}}}, {"signup": DIALOGUE})


async def burst(url: str, leads: int, prefix: str, concurrency: int = 50) -> float:
    """``leads`` visitors give their email, ``concurrency`` at a time; returns the seconds it took."""
    from chinwag.testing import ScriptedVisitor

    limit = asyncio.Semaphore(concurrency)

    async def one(number: int) -> None:
        async with limit, ScriptedVisitor(url.replace("http", "ws", 1) + "/ws", origin=url) as visitor:
            await visitor.connect()
            await visitor.question()
            await visitor.answer(f"{prefix}{number}@burst.example")
            while "completed" not in visitor.events():
                await visitor.until("event")

    started = time.monotonic()
    await asyncio.gather(*(one(number) for number in range(leads)))
    return time.monotonic() - started


def drained(database: Path) -> dict[str, int]:
    """Outbox rows by state, once none is pending (or the timeout passed)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        with contextlib.closing(sqlite3.connect(database, timeout=30)) as connection:
            states = dict(connection.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
        if states and not states.get("pending") or time.monotonic() > deadline:
            return states
        time.sleep(0.5)


def measure(folder: Path, sandbox: Any, leads: int, prefix: str, marketo: dict[str, Any]) -> dict[str, Any]:
    """One burst against one server: the calls it cost, by kind."""
    from chinwag.testing import ServerProcess

    project = write(folder, sandbox.plugin_config(), marketo)
    from chinwag.project_commands import run_with_store
    from chinwag_marketo.commands import set_up_activity_types
    from chinwag_marketo.plugin import connector_of

    async def setup(app: Any) -> list[str]:
        connector = connector_of(app)
        return await set_up_activity_types(connector.client, dict(connector.settings.activity_types))

    run_with_store(project, setup)
    before = len(sandbox.state.limits.calls)
    with ServerProcess(project) as server:
        seconds = asyncio.run(burst(server.url, leads, prefix))
        states = drained(project / "calls.db")
    calls = Counter(f"{call.method} {call.path.rsplit('/v1/', 1)[-1]}" for call in sandbox.state.limits.calls[before:])
    lookups = calls.pop("GET leads.json", 0)  # real-time recognition of each typed email, and id lookups
    write_back = sum(count for name, count in calls.items() if "activities/external/types" not in name)
    return {"leads": leads, "burst_seconds": round(seconds, 1), "outbox": states, "calls": dict(calls),
            "write_back_calls": write_back, "lookup_calls": lookups,
            "write_back_per_1000_leads": round(1000 * write_back / leads, 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the burst and the baseline; print a report (and JSON with ``--json``)."""
    from chinwag_marketo.sandbox import new_state, serve_in_thread

    parser = argparse.ArgumentParser(description="Marketo API calls per 1,000 captured leads")
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--baseline-leads", type=int, default=60)
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work, serve_in_thread(state=new_state()) as sandbox:
        folder = Path(work)
        batched = measure(folder / "batched", sandbox, options.leads, "b", {})
        print(f"batched: {json.dumps(batched)}", file=sys.stderr, flush=True)
        single = measure(folder / "single", sandbox, options.baseline_leads, "s",
                         {"batch_size": 1, "batch_wait": 0, "rate_share": 90, "lookup_share": 10, "concurrency": 10})
        print(f"one per call: {json.dumps(single)}", file=sys.stderr, flush=True)
    results = {"batched": batched, "one_record_per_call": single,
               "ratio": round(batched["write_back_per_1000_leads"] / single["write_back_per_1000_leads"], 4)}
    print(f"| setting | leads | write-back calls | per 1,000 leads | real-time lookups |\n|---|---|---|---|---|\n"
          f"| batches of 300, wait up to 5 s | {batched['leads']} | {batched['write_back_calls']} | "
          f"**{batched['write_back_per_1000_leads']}** | {batched['lookup_calls']} |\n"
          f"| one record per call (baseline) | {single['leads']} | {single['write_back_calls']} | "
          f"{single['write_back_per_1000_leads']} | {single['lookup_calls']} |\n\nratio batched/baseline: {results['ratio']}")
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()

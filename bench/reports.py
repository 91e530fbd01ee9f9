"""How long a report over a million events takes, on SQLite and on PostgreSQL.

``python -m bench.reports [--events 1000000] [--postgres URL] [--json FILE]``

Builds a database of ``--events`` events (about 5 per session: triggered, engaged, answered,
lead captured, completed, over 3 dialogues, 20 pages, 2 versions, 90 days), times the report
once before the daily roll-up (everything counted live), rolls up (``catch_up``, timed), then
times ``chinwag.reports.dialogue_report`` over the 90 days (the whole report: counts, funnel,
pages, versions, known and anonymous visitors) against, in the same run, a baseline of one
``SELECT count(*)`` over the same events in the same period (the least a report without
roll-ups must read).
Each figure is the best of 3 runs. PostgreSQL runs when ``--postgres`` (or
``CHINWAG_TEST_POSTGRES_URL``) names a server that may create a database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from chinwag.app import Chinwag
from chinwag.report_rollup import catch_up
from chinwag.reports import ReportPeriod, dialogue_report, reported_event_types
from chinwag.tables import events, sessions, visitors
from chinwag.testing import write_project

DIALOGUES = {f"d{number}": [f"q{card}" for card in range(4)] for number in range(3)}
BATCH = 20_000


def project(folder: Path, database: str) -> Path:
    """A project with the three dialogues the generated events belong to."""
    dialogues = {dialogue_id: {"id": dialogue_id, "name": dialogue_id, "cards": [
        *({"id": card, "type": "capture", "text": f"{card}?", "field": f"lead.{card}"} for card in cards),
        {"id": "bye", "type": "end", "text": "Thanks"}]} for dialogue_id, cards in DIALOGUES.items()}
    return write_project(folder, {"name": "bench", "database": database, "attributes": [
        {"name": f"lead.q{card}"} for card in range(4)]}, dialogues)


def rows_for(count: int, now: dt.datetime, chooser: random.Random) -> tuple[list[dict[str, Any]], ...]:
    """Visitors, sessions and events for about ``count`` events."""
    visitor_rows, session_rows, event_rows = [], [], []
    while len(event_rows) < count:
        visitor_id, session_id = f"v_{uuid.uuid4().hex[:22]}", f"s_{uuid.uuid4().hex[:22]}"
        dialogue_id = chooser.choice(list(DIALOGUES))
        started = now - dt.timedelta(seconds=chooser.randrange(90 * 86_400))
        known = chooser.random() < 0.3
        visitor_rows.append({"id": visitor_id, "created_at": started, "last_seen_at": started,
                             "lead": {"lead.email": f"{visitor_id}@bench.example"} if known else {}})
        cards = DIALOGUES[dialogue_id]
        answered = chooser.randrange(len(cards) + 1)
        completed = answered == len(cards)
        state = {"card": None if completed else cards[answered], "awaiting": None if completed else "x",
                 "engaged": answered > 0}
        session_rows.append({"id": session_id, "visitor_id": visitor_id, "dialogue_id": dialogue_id,
                             "dialogue_version": 1 + (chooser.random() < 0.5), "status": "completed" if completed else "active",
                             "state": state, "revision": 1, "page_url": f"https://site.example/page{chooser.randrange(20)}?utm=x",
                             "created_at": started, "updated_at": started})
        names = ["triggered"] + (["engaged"] if answered else []) + ["answered"] * answered + (
            ["lead_captured", "completed"] if completed else [])
        for step, name in enumerate(names):
            card = cards[step - 1 - (1 if answered else 0)] if name == "answered" else None
            event_rows.append({"key": f"e_{uuid.uuid4().hex}", "name": name, "session_id": session_id,
                               "visitor_id": visitor_id, "dialogue_id": dialogue_id,
                               "data": {"card": card} if card else {}, "created_at": started})
    return visitor_rows, session_rows, event_rows


async def fill(app: Chinwag, count: int) -> None:
    """Insert about ``count`` events (with their visitors and sessions) in batches."""
    assert app.store is not None
    chooser, now, made = random.Random(7), dt.datetime.now(dt.timezone.utc), 0
    while made < count:
        visitor_rows, session_rows, event_rows = rows_for(min(BATCH, count - made), now, chooser)
        async with app.store.transaction() as connection:
            await connection.execute(sa.insert(visitors), visitor_rows)
            await connection.execute(sa.insert(sessions), session_rows)
            await connection.execute(sa.insert(events), event_rows)
        made += len(event_rows)


async def best_of(runs: int, work: Any) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        best = min(best, time.perf_counter() - started)
    return best


async def measure(database: str, count: int) -> dict[str, Any]:
    """Fill a fresh database and time the report against the baseline count."""
    with tempfile.TemporaryDirectory() as folder:
        app = Chinwag.from_project(project(Path(folder) / "p", database))
        await app.start(migrate=True)  # a fresh database of the benchmark's own
        try:
            started = time.perf_counter()
            await fill(app, count)
            filled = time.perf_counter() - started
            period = ReportPeriod.last_days(90)
            live_seconds = await best_of(1, lambda: dialogue_report(app, period))  # nothing rolled up yet
            started = time.perf_counter()
            await catch_up(app.store, reported_event_types(app))  # type: ignore[arg-type]
            rolled = time.perf_counter() - started

            async def baseline() -> None:
                async with app.store.connect() as connection:  # type: ignore[union-attr]
                    await connection.execute(sa.select(sa.func.count()).select_from(events).where(
                        events.c.created_at >= period.since, events.c.created_at < period.until))

            report = await dialogue_report(app, period)
            assert sum(entry["triggered"] for entry in report["dialogues"].values()) > 0
            report_seconds = await best_of(3, lambda: dialogue_report(app, period))
            baseline_seconds = await best_of(3, baseline)
        finally:
            await app.stop()
    return {"events": count, "fill_seconds": round(filled, 1), "roll_up_seconds": round(rolled, 1),
            "report_before_roll_up_seconds": round(live_seconds, 3), "report_seconds": round(report_seconds, 3),
            "baseline_count_seconds": round(baseline_seconds, 3),
            "ratio_to_baseline": round(report_seconds / baseline_seconds, 2), "target_met": report_seconds < 1.0}


async def _fresh_postgres(url: str) -> str:
    """A fresh database on the server of ``url``, for this run."""
    import asyncpg

    name = f"chinwag_bench_{uuid.uuid4().hex[:8]}"
    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(plain)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return url.rsplit("/", 1)[0] + "/" + name


async def _drop_postgres(url: str, database: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{database.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await connection.close()


async def run_all(count: int, postgres: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = await measure(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", count)
    if postgres:
        database = await _fresh_postgres(postgres)
        try:
            results["postgresql"] = await measure(database, count)
        finally:
            await _drop_postgres(postgres, database)
    return results


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table (and JSON to ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=os.environ.get("CHINWAG_TEST_POSTGRES_URL"))
    parser.add_argument("--json", dest="json_path", default=None)
    options = parser.parse_args(argv)
    results = asyncio.run(run_all(options.events, options.postgres))
    print("| database | events | roll-up (s) | report before roll-up (s) | report (s) | baseline count (s) | ratio "
          "| under 1 s |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, result in results.items():
        print(f"| {name} | {result['events']:,} | {result['roll_up_seconds']} | {result['report_before_roll_up_seconds']} "
              f"| {result['report_seconds']} | {result['baseline_count_seconds']} | {result['ratio_to_baseline']} "
              f"| {'yes' if result['target_met'] else 'no'} |")
    if options.json_path:
        Path(options.json_path).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

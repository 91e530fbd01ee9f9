"""How fast the Marketo initial sync stores leads, and whether its memory stays flat.

Run with ``python -m bench.marketo_sync``. The Marketo sandbox is served by a child process
(bulk jobs complete at once, so the figures are chinwag's, not Marketo's queue), seeded with
leads updated over the last two years: 24 windows of 31 days. ``chinwag marketo sync`` runs as
another child process into a fresh SQLite database, once with 50,000 leads and once with
200,000; its peak RSS is read from ``os.wait4`` for that child alone. (The sandbox is not a
thread of this process because Linux counts a child's peak from before its ``exec``: children
of a process holding 200,000 leads would all look big.) Flat memory means the two peaks are
about equal: batches of 2,000 rows, not the export, set the size.

The baseline, in the same run and also in a child process: download the same completed export
files (streamed, same HTTP client and the same CSV parsing) and count the rows without storing
them. ``sync / baseline`` is what storing costs on top of reading.

    python -m bench.marketo_sync                       # 50,000 and 200,000 leads
    python -m bench.marketo_sync --sizes 20000 --json results.json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SIZES = (50_000, 200_000)
SPREAD_DAYS = 720
TARGET_RATE = 5_000  # leads per second
CHINWAG = str(Path(sys.executable).with_name("chinwag"))


def run_child(args: list[str]) -> tuple[str, float, float]:
    """Run a child process; its stdout, wall seconds and peak RSS in MiB (``os.wait4``: this child only)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHINWAG_")}
    started = time.monotonic()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"{args[:3]} exited {process.returncode}")
    return out, wall, usage.ru_maxrss / 1024  # KiB on Linux


def sandbox_child(size: int) -> None:
    """Serve a sandbox seeded with ``size`` leads; print its settings; stop when stdin closes."""
    from chinwag_marketo.sandbox import new_state, serve_in_thread

    state = new_state()
    state.seed_leads(size, spread_days=SPREAD_DAYS)
    state.bulk.complete_immediately = True
    state.limits.rate_window = 1.0  # the sandbox's 100 calls per 20 s would pace the status calls
    with serve_in_thread(state=state) as server:
        print(json.dumps(server.plugin_config()), flush=True)
        sys.stdin.read()


def measure(size: int, folder: Path) -> dict[str, Any]:
    """The sync and the baseline for ``size`` leads, each in a child process."""
    import httpx
    from chinwag.testing import write_project

    sandbox = subprocess.Popen([sys.executable, "-m", "bench.marketo_sync", "--sandbox-child", str(size)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert sandbox.stdout is not None and sandbox.stdin is not None
        config = json.loads(sandbox.stdout.readline())
        marketo = {**config, "person_fields": ["firstName", "lastName", "title", "country"],
                   "company_fields": ["company"], "rate_share": 90, "lookup_share": 10, "rate_window": 1.0}
        project = write_project(folder / f"p{size}", {"name": "bench", "plugins": {"marketo": marketo},
                                                      "database": f"sqlite+aiosqlite:///{folder / f'p{size}.db'}"}, {})
        since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=SPREAD_DAYS + 1)).isoformat()
        out, wall, rss = run_child([CHINWAG, "marketo", "sync", "--project", str(project), "--since", since,
                                    "--poll-seconds", "0.05"])
        report = json.loads(out.strip().splitlines()[-1])
        assert report["total_rows"] == size, report
        jobs = httpx.get(f"{config['base_url']}/_sandbox").json()["bulk"]["jobs"]
        exports = [job["exportId"] for job in jobs if job["status"] == "Completed"]
        base_out, base_wall, base_rss = run_child([sys.executable, "-m", "bench.marketo_sync", "--baseline-child",
                                                   json.dumps({**config, "exports": exports})])
        base = json.loads(base_out)
        assert base["rows"] == size, base
    finally:
        if sandbox.stdin is not None:
            sandbox.stdin.close()
        sandbox.wait(30)
    return {"leads": size, "windows": report["windows"], "sync_seconds": report["seconds"], "sync_wall": round(wall, 2),
            "sync_rate": round(size / report["seconds"]), "sync_rss_mib": round(rss, 1),
            "baseline_seconds": base["seconds"], "baseline_rate": round(size / base["seconds"]),
            "baseline_rss_mib": round(base_rss, 1), "ratio": round(report["seconds"] / base["seconds"], 2)}


def baseline_child(config: dict[str, Any]) -> None:
    """Download and parse the given export files, storing nothing; print rows and seconds."""
    import httpx
    from chinwag_marketo.bulk_sync import csv_rows

    async def main() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=config["base_url"], timeout=60) as http:
            token = (await http.get("/identity/oauth/token", params={
                "grant_type": "client_credentials", "client_id": config["client_id"],
                "client_secret": config["client_secret"]})).json()["access_token"]
            started, rows = time.monotonic(), 0
            for export_id in config["exports"]:
                async with http.stream("GET", f"/bulk/v1/leads/export/{export_id}/file.json",
                                       headers={"Authorization": f"Bearer {token}"}) as response:
                    header: list[str] | None = None
                    async for chunk in csv_rows(response.aiter_text()):
                        for row in chunk:
                            if header is None:
                                header = row
                                continue
                            dict(zip(header, (None if value == "null" else value for value in row)))
                            rows += 1
            return {"rows": rows, "seconds": round(time.monotonic() - started, 3)}

    print(json.dumps(asyncio.run(main())))


def format_report(results: dict[str, Any]) -> str:
    """The figures as a Markdown table and a verdict."""
    lines = ["| leads | windows | sync s | sync leads/s | peak RSS MiB | baseline s | baseline leads/s | "
             "baseline RSS MiB | sync / baseline |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["runs"]:
        lines.append(f"| {r['leads']:,} | {r['windows']} | {r['sync_seconds']} | {r['sync_rate']:,} | {r['sync_rss_mib']} | "
                     f"{r['baseline_seconds']} | {r['baseline_rate']:,} | {r['baseline_rss_mib']} | {r['ratio']} |")
    largest = results["runs"][-1]
    lines.append(f"\nTarget {TARGET_RATE:,} leads/s: {'met' if largest['sync_rate'] >= TARGET_RATE else 'NOT met'} "
                 f"({largest['sync_rate']:,} at {largest['leads']:,} leads)")
    if len(results["runs"]) > 1:
        peaks = [r["sync_rss_mib"] for r in results["runs"]]
        lines.append(f"Peak RSS from {results['runs'][0]['leads']:,} to {largest['leads']:,} leads: "
                     f"{peaks[0]} -> {peaks[-1]} MiB ({peaks[-1] / peaks[0]:.2f}x)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="Lead counts, comma separated.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    parser.add_argument("--baseline-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--sandbox-child", type=int, default=None, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.baseline_child:
        baseline_child(json.loads(options.baseline_child))
        return {}
    if options.sandbox_child:
        sandbox_child(options.sandbox_child)
        return {}
    from .chat import _machine

    results: dict[str, Any] = {"machine": _machine(), "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-marketo-") as folder:
        for size in (int(text) for text in options.sizes.split(",")):
            run = measure(size, Path(folder))
            print(f"{size:>8,} leads: sync {run['sync_rate']:,}/s, peak {run['sync_rss_mib']} MiB; "
                  f"baseline {run['baseline_rate']:,}/s", flush=True)
            results["runs"].append(run)
    print(format_report(results))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])

"""The widget's weight and how soon a visitor sees it: ``python -m bench.widget``.

* Size of ``widget.js``: the source file, and as served (without its comments and indentation,
  ``chinwag.widget_asset.lean_script``), each raw and gzipped (level 9, as the server sends it).
  The budget is 15 KB gzipped as served.
* Time from the script's load to the launcher being visible, measured inside headless Chromium
  (Debian's ``chromium``, driven by Playwright) on the demo page of the real server over loopback.
  Each run is a new visitor in a fresh browser profile, so it includes the WebSocket handshake, the
  ``hello``/``welcome`` exchange and the new session's database write. The server runs as its own
  process (``chinwag serve --demo``), so it never competes with Playwright for this interpreter. The widget marks the moment
  with ``performance.mark("chinwag:launcher-visible")``; the script's timings come from the
  Resource Timing entry of ``widget.js``. Medians over ``--runs`` runs.

    python -m bench.widget                 # 15 runs
    python -m bench.widget --runs 30 --json bench/results/widget.json
    git show main:core/static/widget.js > /tmp/widget-main.js
    python -m bench.widget --runs 30 --baseline /tmp/widget-main.js   # the same runs, alternately
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chinwag.app import STATIC_DIR
from chinwag.testing import CHROMIUM_ARGS, QUICKSTART, chromium_path, write_project
from chinwag.widget_asset import lean_script

BUDGET_GZIP_BYTES = 15 * 1024  # what a visitor downloads, gzipped, as served
# Read in the page once the launcher shows: the script's resource timings and the widget's mark.
TIMINGS = """() => {
  const script = performance.getEntriesByType("resource").find((e) => e.name.endsWith("/widget.js"));
  const mark = performance.getEntriesByName("chinwag:launcher-visible")[0];
  return {requested: script.startTime, loaded: script.responseEnd, visible: mark.startTime};
}"""


def widget_size() -> dict[str, int]:
    """Bytes of widget.js as served (raw and gzipped), and of its source file."""
    source = (STATIC_DIR / "widget.js").read_bytes()
    served = lean_script(source)
    return {"raw_bytes": len(served), "gzip_bytes": len(gzip.compress(served, compresslevel=9)),
            "source_bytes": len(source), "source_gzip_bytes": len(gzip.compress(source, compresslevel=9))}


@contextlib.contextmanager
def demo_server(project: Path) -> Iterator[str]:
    """``chinwag serve --demo`` on a free loopback port, in its own process; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).with_name("chinwag")), "serve", str(project), "--demo", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("chinwag serve did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(15)


def launcher_timings(runs: int, baseline: bytes | None = None) -> dict[str, list[dict[str, float]]]:
    """Per run, in milliseconds: script requested -> launcher visible, and script loaded -> visible.

    With a ``baseline`` script, each run loads the page twice, with the current script and with the
    baseline (which goes first alternates), both handed to the page by the browser (the same
    delivery for both), so the two are measured under the same load of the machine. Without one, the server sends the
    script. Keys: ``current`` (and ``baseline``).
    """
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise SystemExit("bench.widget needs Chromium: apt-get install chromium")
    scripts: dict[str, bytes | None] = {"current": None}
    if baseline is not None:
        scripts = {"current": lean_script((STATIC_DIR / "widget.js").read_bytes()), "baseline": baseline}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in scripts}
    with tempfile.TemporaryDirectory() as folder:
        project = write_project(Path(folder) / "project", copy_from=QUICKSTART)
        with demo_server(project) as server_url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            for run in range(runs + 1):
                order = list(scripts.items())
                for name, body in order[::-1] if run % 2 else order:  # either may go first: no bias from the order
                    timing = _one_load(browser, server_url, body)
                    if run > 0:  # the first run is a warm-up: it pays for the browser's and server's start
                        results[name].append(timing)
            browser.close()
    return results


def _one_load(browser: Any, server_url: str, script: bytes | None) -> dict[str, float]:
    """One new visitor's page load, timed (``script`` replaces the server's widget.js when given)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    if script is not None:
        page.route("**/widget.js", lambda route: route.fulfill(body=script, content_type="text/javascript"))
    page.goto(server_url + "/")
    page.locator("chinwag-widget .launcher").wait_for(state="visible", timeout=15_000)
    timing = page.evaluate(TIMINGS)
    context.close()
    return {"from_request_ms": timing["visible"] - timing["requested"], "from_loaded_ms": timing["visible"] - timing["loaded"]}


def run(runs: int = 15, baseline: Path | None = None) -> dict[str, Any]:
    """Size and median load-to-launcher times (and the baseline's, and their ratio, when given)."""
    timings = launcher_timings(runs, baseline.read_bytes() if baseline else None)
    result: dict[str, Any] = {**widget_size(), "runs": runs, **_medians(timings["current"])}
    if baseline is not None:
        before = baseline.read_bytes()
        result["baseline"] = {"raw_bytes": len(before), "gzip_bytes": len(gzip.compress(before, compresslevel=9)),
                              **_medians(timings["baseline"])}
        result["loaded_to_launcher_ratio"] = round(
            result["median_loaded_to_launcher_ms"] / result["baseline"]["median_loaded_to_launcher_ms"], 2)
    return result


def _medians(timings: list[dict[str, float]]) -> dict[str, float]:
    """The median times of a series, and its slowest request-to-launcher time."""
    return {
        "median_request_to_launcher_ms": round(statistics.median(t["from_request_ms"] for t in timings), 1),
        "median_loaded_to_launcher_ms": round(statistics.median(t["from_loaded_ms"] for t in timings), 1),
        "max_request_to_launcher_ms": round(max(t["from_request_ms"] for t in timings), 1),
    }


def main(argv: list[str] | None = None) -> None:
    """Print the report; ``--json`` also writes it to a file."""
    parser = argparse.ArgumentParser(prog="python -m bench.widget", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="measured page loads (after one warm-up)")
    parser.add_argument("--baseline", type=Path,
                        help="another widget.js (an earlier version) to time in the same runs, alternately")
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args(argv)
    result = run(options.runs, options.baseline)
    within = "within" if result["gzip_bytes"] <= BUDGET_GZIP_BYTES else "OVER"
    print(f"widget.js as served: {result['raw_bytes']:,} bytes raw, {result['gzip_bytes']:,} bytes gzipped "
          f"({within} the {BUDGET_GZIP_BYTES // 1024} KB budget)")
    print(f"widget.js source file: {result['source_bytes']:,} bytes raw, {result['source_gzip_bytes']:,} bytes gzipped")
    print(f"script requested -> launcher visible: median {result['median_request_to_launcher_ms']} ms "
          f"(max {result['max_request_to_launcher_ms']} ms) over {result['runs']} runs")
    print(f"script loaded -> launcher visible: median {result['median_loaded_to_launcher_ms']} ms")
    if "baseline" in result:
        before = result["baseline"]
        print(f"baseline {options.baseline}: {before['raw_bytes']:,} bytes raw, {before['gzip_bytes']:,} gzipped; "
              f"script loaded -> launcher visible: median {before['median_loaded_to_launcher_ms']} ms; "
              f"current / baseline: {result['loaded_to_launcher_ratio']}")
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Server CPU per turn of this checkout's chinwag against another version's, the two alternating.

The chat benchmark (``bench.chat``) runs one version; on a machine shared with other work, two of
its runs a few minutes apart can differ by more than a change to compare. This runs the chat
benchmark's turns phase (SQLite) for ``--base`` (a folder holding another version's ``chinwag``
package, put first on ``PYTHONPATH``), for this checkout and for the bare endpoint, one after the
other in each round, the order of the two versions flipping every round, and reports each
phase's server CPU per turn and the medians.

    git archive main core | tar -x -C /tmp/main-src && mkdir /tmp/main && ln -s /tmp/main-src/core /tmp/main/chinwag
    python -m bench.compare --base /tmp/main --visitors 100 --rounds 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from .chat import bare_server, chinwag_server, make_project, turns_phase
from .load import raise_fd_limit

WARMUP = 2.0
DURATION = 6.0


def compare(base: Path, visitors: int, rounds: int, warmup: float = WARMUP, duration: float = DURATION) -> dict[str, Any]:
    """Run the rounds; every phase's figures and the median server CPU ms per turn of each target."""
    raise_fd_limit()
    paths = {"base": str(base), "this": ""}
    phases: dict[str, list[dict[str, Any]]] = {"base": [], "this": [], "bare": []}
    saved = os.environ.get("PYTHONPATH")
    try:
        with tempfile.TemporaryDirectory(prefix="chinwag-compare-") as folder:
            for number in range(rounds):
                for target in (("base", "this", "bare") if number % 2 == 0 else ("this", "base", "bare")):
                    os.environ["PYTHONPATH"] = paths.get(target, "")  # read by the server process as it starts
                    log = Path(folder) / f"{target}.log"
                    database = None
                    if target == "bare":
                        server = bare_server(log).start()
                    else:
                        project = make_project(Path(folder) / f"{target}-{number}")
                        database = project / "bench.db"
                        server = chinwag_server(project, log).start()
                    try:
                        result = turns_phase(server, visitors, warmup, duration, database)
                    finally:
                        server.stop()
                    phases[target].append(result)
                    stored = result.get("durability", {}).get("ok", True)
                    print(f"round {number + 1} {target:4} {visitors} visitors: {result['turns_per_second']:8.1f} turns/s  "
                          f"cpu/turn {result.get('server_cpu_ms_per_turn')} ms  stored={'ok' if stored else 'MISMATCH'}",
                          flush=True)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    medians = {target: statistics.median(result["server_cpu_ms_per_turn"] for result in results)
               for target, results in phases.items()}
    return {"visitors": visitors, "rounds": rounds, "cpu_ms_per_turn_median": medians, "phases": phases}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line entry point: prints each phase, then the medians as JSON."""
    parser = argparse.ArgumentParser(description="server CPU per turn: this checkout against another version")
    parser.add_argument("--base", type=Path, required=True, help="a folder holding the other version's chinwag package")
    parser.add_argument("--visitors", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    args = parser.parse_args(argv)
    if not (args.base / "chinwag" / "__init__.py").exists():
        raise SystemExit(f"{args.base} holds no chinwag package (chinwag/__init__.py)")
    result = compare(args.base.resolve(), args.visitors, args.rounds)
    medians = result["cpu_ms_per_turn_median"]
    print(json.dumps({"visitors": args.visitors, "cpu_ms_per_turn_median": medians,
                      "this_over_base": round(medians["this"] / medians["base"], 3)}))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()

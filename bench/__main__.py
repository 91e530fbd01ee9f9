"""Run every benchmark: ``python -m bench`` (``make bench``).

Each benchmark is a module of this package with a ``main()`` (preferred: it prints its own
report) or a ``run()`` returning a dict (printed as JSON). One failing benchmark is reported
and the others still run; the exit status is 1 when any failed.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import time
import traceback
from types import ModuleType

# Benchmarks in the order they run; the chat benchmark takes minutes, the others seconds.
BENCHMARKS = ("slots", "widget", "targeting", "chat", "outbox", "marketo_sync", "marketo_calls", "reports")


def _load(name: str) -> ModuleType | None:
    """The benchmark module, or None when it does not exist (yet)."""
    try:
        return importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"bench.{name}":
            return None
        raise


def run_benchmark(name: str) -> str:
    """Run one benchmark; return ``ok``, ``missing`` or ``failed``."""
    print(f"\n== bench.{name} ==", flush=True)
    started = time.monotonic()
    try:
        module = _load(name)
        if module is None:
            print(f"bench.{name}: not present, skipped")
            return "missing"
        entry = getattr(module, "main", None) or getattr(module, "run", None)
        if entry is None:
            print(f"bench.{name}: has neither main() nor run(), skipped")
            return "missing"
        # A main() that parses options gets an empty list, so it ignores this command's own arguments.
        takes_argv = entry.__name__ == "main" and bool(inspect.signature(entry).parameters)
        result = entry([]) if takes_argv else entry()
        if entry.__name__ == "run" and result is not None:
            print(json.dumps(result, indent=2, default=str))
    except Exception:  # one broken benchmark must not hide the others' figures
        traceback.print_exc()
        print(f"bench.{name}: FAILED after {time.monotonic() - started:.1f}s", flush=True)
        return "failed"
    print(f"bench.{name}: done in {time.monotonic() - started:.1f}s", flush=True)
    return "ok"


def main() -> int:
    """Run every benchmark and print a one-line summary of each."""
    outcomes = {name: run_benchmark(name) for name in BENCHMARKS}
    print("\n" + "  ".join(f"{name}: {outcome}" for name, outcome in outcomes.items()))
    return 1 if "failed" in outcomes.values() else 0


if __name__ == "__main__":
    sys.exit(main())

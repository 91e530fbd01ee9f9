"""What choosing a dialogue costs a ``hello``: page rules, audience and priority.

Run with ``python -m bench.targeting``. Two projects are written to a temporary folder and loaded
as ``chinwag serve`` loads them:

* **typical**: 10 dialogues, each with 3 page patterns and an audience of 2 conditions, the
  page targeted by the last;
* **at the reference's limits**: 100 published dialogues, each with 20 include patterns (the
  reference product's limit per dialogue), 5 excludes and an audience of 10 groups of 10
  conditions (its limits), and a page that only the lowest-priority dialogue targets, so every
  pattern of every dialogue is tried and the last audience evaluated.

The baseline, timed in the same run and interleaved with the cases, is decoding and checking the
``hello`` frame (``chinwag.protocol.decode``), which every page load pays anyway: its ratio moves
less with a noisy machine than microseconds do.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from chinwag.app import Chinwag
from chinwag.protocol import decode
from chinwag.testing import write_project

ROUNDS = 7
CALLS = 2000
HELLO = ('{"type":"hello","protocol":1,"minor":1,"visitor":"v_0123456789abcdefghijkl","session":null,'
         '"page":{"url":"https://www.example.com/pricing/team?utm_campaign=spring","referrer":"https://www.google.com/"},'
         '"locale":"en-GB","timezone":"Europe/London","attributes":{"visit.plan":"team"}}')


def _dialogue(number: int, include: list[str], exclude: list[str], audience: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"d{number:03}", "name": f"Dialogue {number}", "priority": number + 1,
            "targeting": {"include": include, **({"exclude": exclude} if exclude else {}), "audience": audience},
            "cards": [{"id": "hi", "type": "message", "text": "Hello"}]}


def typical() -> dict[str, dict[str, Any]]:
    """10 dialogues with a few patterns and a short audience each."""
    return {f"d{n:03}": _dialogue(n, [f"https://www.example.com/section{n}/*", f"/landing{n}",
                                      "/pricing/*" if n == 9 else f"utm_campaign=c{n}"], [],
                                  {"all": [{"attribute": "lead.email", "op": "is_empty"},
                                           {"attribute": "visit.device", "op": "is_not", "value": "mobile"}]})
            for n in range(10)}


def at_limits() -> dict[str, dict[str, Any]]:
    """100 dialogues at the reference's limits; only the last targets the benchmark's page."""
    dialogues = {}
    for n in range(100):
        include = [f"https://*.site{n}-{k}.com/folder/*" for k in range(19)]
        include.append("https://www.example.com/pricing/*" if n == 99 else f"/other{n}/*")
        exclude = [f"/private{k}/*" for k in range(4)] + ["utm_source=partner"]
        groups = [{"all": [{"attribute": "company.size", "op": "gt", "value": g * 10 + c} for c in range(9)]
                   + [{"attribute": "lead.state", "op": "in", "value": ["CA", "OR", "WA"]}]} for g in range(10)]
        dialogues[f"d{n:03}"] = _dialogue(n, include, exclude, {"any": groups})
    return dialogues


async def _per_call(call: Callable[[], Awaitable[Any] | Any], calls: int) -> float:
    """Seconds per call, over ``calls`` calls."""
    started = time.perf_counter()
    for _ in range(calls):
        result = call()
        if asyncio.iscoroutine(result):
            await result
    return (time.perf_counter() - started) / calls


async def measure(apps: dict[str, Chinwag]) -> dict[str, Any]:
    """Median seconds per choice for each case and for the baseline, interleaved round by round."""
    visit = {"visit.page_url": "https://www.example.com/pricing/team?utm_campaign=spring", "visit.device": "desktop"}
    lead = {"company.size": 95, "lead.state": "CA"}
    cases: dict[str, Callable[[], Any]] = {"baseline: decode hello": lambda: decode(HELLO)}
    for name, app in apps.items():
        cases[name] = lambda app=app: app.conversations.targeter.choose("v_1", lead, visit, ())
    chosen = {name: (await app.conversations.targeter.choose("v_1", lead, visit, ())) for name, app in apps.items()}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    gc.disable()
    try:
        for _ in range(ROUNDS):
            for name, call in cases.items():
                samples[name].append(await _per_call(call, CALLS))
    finally:
        gc.enable()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["baseline: decode hello"]
    return {"chosen": {name: dialogue.id if dialogue else None for name, dialogue in chosen.items()},
            "microseconds": {name: round(value * 1e6, 1) for name, value in medians.items()},
            "ratio_to_baseline": {name: round(value / base, 1) for name, value in medians.items()}}


def run() -> dict[str, Any]:
    """Write the projects, load them and measure."""
    with tempfile.TemporaryDirectory() as folder:
        apps = {}
        for name, dialogues in (("typical (10 dialogues)", typical()), ("at the reference's limits (100 dialogues)", at_limits())):
            project = write_project(Path(folder) / name.split()[0], config={"name": "bench"}, dialogues=dialogues)
            apps[name] = Chinwag.from_project(project)
        return asyncio.run(measure(apps))


def main() -> None:
    """Print the figures."""
    result = run()
    print(f"dialogue chosen: {result['chosen']}")
    for name, micro in result["microseconds"].items():
        print(f"{name:45} {micro:10.1f} us per hello   x{result['ratio_to_baseline'][name]} baseline")


if __name__ == "__main__":
    main()

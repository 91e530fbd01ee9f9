"""`make run` and `make test`: separate environments, installs only when metadata changed, a quiet
command line, and a demo page with a sane title and an icon."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerProcess, write_project

REPO = QUICKSTART.parent.parent
BANNER = "DEMO MODE"

# Stands in for the pip and chinwag of an environment: records each call, one per line.
RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$(dirname "$0")/../calls.log"
"""


def make_copy(tmp_path: Path) -> Path:
    """The Makefile and every distribution's metadata, in a folder of their own."""
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(REPO / "Makefile", copy)
    for pattern in ("setup.cfg", "pyproject.toml", "plugins/*/setup.cfg", "plugins/*/pyproject.toml",
                    "tests/plugins/*/setup.cfg", "examples/plugins/*/setup.cfg"):
        for source in REPO.glob(pattern):
            target = copy / source.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
            os.utime(target, (time.time() - 100, time.time() - 100))  # written well before any install
    for environment in (".venv", ".venv-test"):  # existing environments whose programs record calls
        (copy / environment / "bin").mkdir(parents=True)
        for program in ("python", "pip", "chinwag"):
            path = copy / environment / "bin" / program
            path.write_text(RECORDER)
            path.chmod(0o755)
    return copy


def make(copy: Path, *targets: str) -> None:
    """Run make in ``copy``; fail the test with its output when make fails."""
    done = subprocess.run(["make", *targets], cwd=copy, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def calls(copy: Path, environment: str) -> list[str]:
    """The calls an environment's programs recorded, then forget them."""
    log = copy / environment / "calls.log"
    recorded = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return recorded


def test_make_run_installs_once_per_metadata_change_and_never_the_test_plugins(tmp_path: Path) -> None:
    copy = make_copy(tmp_path)
    make(copy, "run")
    installs = [call for call in calls(copy, ".venv") if call.startswith("pip install")]
    assert len(installs) == 1 and "-e plugins/google_calendar/" in installs[0]
    assert "tests/plugins" not in installs[0] and "examples/plugins" not in installs[0]
    make(copy, "run")  # nothing changed: straight to serving
    assert calls(copy, ".venv") == ["chinwag serve examples/quickstart --demo"]
    setup = copy / "plugins" / "marketo" / "setup.cfg"
    setup.write_text(setup.read_text() + "\n")  # a plugin's metadata changed since

    make(copy, "run")
    assert [call.split()[:2] for call in calls(copy, ".venv")] == [["pip", "install"], ["pip", "uninstall"], ["chinwag", "serve"]]
    # The tests' environment is another one, with the test-only plugins; make run's is untouched.
    make(copy, "install-test")
    assert calls(copy, ".venv") == []
    [install] = calls(copy, ".venv-test")
    assert "-e tests/plugins/broken_plugin/" in install and "-e examples/plugins/quote_card/" in install
    make(copy, "install-test")
    assert calls(copy, ".venv-test") == []


def chinwag(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A chinwag command, run to its end."""
    command = [str(Path(sys.executable).with_name("chinwag")), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


async def test_the_demo_page_and_which_commands_speak_of_the_throwaway_key(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if name != "CHINWAG_SECRET_KEY"}
    folder = write_project(tmp_path / "demo", {"response_delay": 0}, copy_from=QUICKSTART)
    with ServerProcess(folder, env=env, args=("--demo",)) as server:
        page = httpx.get(server.url + "/")
        assert re.search(r"<title>Home · Chinwag demo</title>", page.text), page.text[:400]
        [icon] = re.findall(r'<link rel="icon" href="([^"]+)"', page.text)
        answer = httpx.get(server.url + icon)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/svg+xml")
        assert answer.text.startswith("<svg")
        async with ScriptedVisitor(server) as visitor:
            await visitor.connect()
            for reply in ("meeting", "Ada", "ada@client.example", "11-50"):
                await visitor.question()
                await visitor.answer(reply)
            await visitor.answer((await visitor.question())["input"]["slots"][0]["id"])
            assert (await visitor.until("message"))["text"].startswith("You're booked with ")
    assert BANNER in server.log()  # the server made up a key, and said so
    for command in (("report", str(folder)), ("agents", "list", "-p", str(folder)), ("meetings", "-p", str(folder))):
        done = chinwag(*command, env=env)
        assert done.returncode == 0, done.stderr
        assert BANNER not in done.stdout + done.stderr and "CHINWAG_SECRET_KEY" not in done.stderr, command
    listed = chinwag("meetings", "-p", str(folder), "--json", env=env)
    [meeting] = json.loads(listed.stdout)
    cancelled = chinwag("meetings", "cancel", "-p", str(folder), str(meeting["id"]), env=env)
    assert BANNER in cancelled.stderr  # this one decrypts tokens: it says which key it has

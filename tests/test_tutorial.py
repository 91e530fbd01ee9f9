"""docs/tutorial-plugin.md, run as written: every file block is written and every console command
run, in order, in a fresh virtual environment (see ``venv_support``), so the tutorial cannot rot.

In a ``console`` block, ``$ command`` runs in bash from the tutorial's folder; each line after it
must appear in what the command printed, and a line starting with ``! `` says the command must
fail, printing the rest. A block whose info string has ``file=PATH`` is written to PATH.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
from venv_support import clean_environment, run, throwaway_venv

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial-plugin.md"
FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@attrs.frozen
class Step:
    """A file to write (``path``) or a command to run with what it must print."""

    text: str
    path: str | None = None
    expected: tuple[str, ...] = ()
    must_fail: bool = False


def steps(markdown: str) -> list[Step]:
    """The tutorial's files and commands, in order."""
    found: list[Step] = []
    for language, info, body in FENCE.findall(markdown):
        target = re.search(r"file=(\S+)", info)
        if target:
            found.append(Step(body, path=target.group(1)))
        elif language == "console":
            for chunk in re.split(r"^\$ ", body, flags=re.MULTILINE)[1:]:
                command, *lines = chunk.rstrip("\n").split("\n")
                expected = tuple(line.removeprefix("! ") for line in lines if line.strip())
                found.append(Step(command, expected=expected, must_fail=any(line.startswith("! ") for line in lines)))
    return found


def test_the_tutorial_parses_into_files_and_commands() -> None:
    parsed = steps(TUTORIAL.read_text())
    assert [step.text for step in parsed if step.path is None][:2] == ["chinwag new-plugin acme-crm --kind crm",
                                                                       "pip install -e ./acme_crm"]
    assert any(step.must_fail for step in parsed) and sum(step.path is not None for step in parsed) == 4


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    venv = throwaway_venv(tmp_path / "venv")
    env = clean_environment(venv)
    work = tmp_path / "tutorial"
    work.mkdir()
    for number, step in enumerate(steps(TUTORIAL.read_text()), start=1):
        if step.path is not None:
            (work / step.path).parent.mkdir(parents=True, exist_ok=True)
            (work / step.path).write_text(step.text)
            continue
        result = run("bash", "-c", step.text, cwd=work, env=env)
        printed = result.stdout + result.stderr
        where = f"step {number}: $ {step.text}\n{printed[-3000:]}"
        assert (result.returncode != 0) == step.must_fail, where
        for line in step.expected:
            assert line in printed, f"{where}\nexpected: {line}"

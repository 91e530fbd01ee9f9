"""A throwaway virtual environment for tests that install plugins the way an author does
(``pip install -e``), without touching this environment or the network.

The new environment sees this one's packages (a ``.pth`` file adds its site-packages), so pip
runs offline: installs get ``--no-deps --no-build-isolation --no-index``. Its ``bin`` holds
``python``, and ``pip``, ``pytest`` and ``chinwag`` wrappers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

OFFLINE = "--no-deps --no-build-isolation --no-index"


def clean_environment(venv: Path | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without chinwag's and pytest's switches; ``venv``'s bin first on PATH."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CHINWAG_", "PYTEST_"))}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
    return {**env, **(extra or {})}


def run(*command: str, cwd: Path | None = None, env: Mapping[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """A command's result, its output captured as text."""
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env=dict(env) if env is not None else clean_environment())


def throwaway_venv(path: Path) -> Path:
    """Make the environment at ``path``; return it."""
    made = run(sys.executable, "-m", "venv", "--without-pip", str(path))
    assert made.returncode == 0, made.stderr
    python = path / "bin" / "python"
    purelib = run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "chinwag-parent-env.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    wrappers = {
        "pip": f'if [ "$1" = install ]; then shift; exec "{python}" -m pip install {OFFLINE} "$@"; fi\n'
               f'exec "{python}" -m pip "$@"',
        "pytest": f'exec "{python}" -m pytest -p no:cacheprovider "$@"',
        "chinwag": f'exec "{python}" -c "from chinwag.cli import main; main()" "$@"',
    }
    for name, body in wrappers.items():
        script = path / "bin" / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return path

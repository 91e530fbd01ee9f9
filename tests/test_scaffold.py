"""``chinwag new-plugin``: every kind of plugin it writes installs with pip, is listed by ``chinwag
plugins`` and passes its own tests; bad names and existing folders are refused.

The plugins are installed into a throwaway virtual environment that sees this environment's
packages (so nothing is downloaded), the way an author runs ``pip install -e``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from chinwag.scaffold_templates import KINDS
from venv_support import clean_environment, run, throwaway_venv

CHINWAG = str(Path(sys.executable).with_name("chinwag"))


def test_every_kind_installs_is_listed_and_passes_its_tests(tmp_path: Path) -> None:
    for kind in KINDS:
        made = run(CHINWAG, "new-plugin", f"acme-{kind}", "--kind", kind, "--directory", str(tmp_path / "plugins"))
        assert made.returncode == 0, made.stderr
        assert f"chinwag-acme-{kind}, kind {kind}, settings under plugins: acme_{kind}" in made.stdout
    folders = sorted((tmp_path / "plugins").iterdir())
    assert [folder.name for folder in folders] == sorted(f"acme_{kind}" for kind in KINDS)
    venv = throwaway_venv(tmp_path / "venv")
    env = clean_environment(venv)
    editable = [argument for folder in folders for argument in ("-e", str(folder))]
    installed = run("pip", "install", "-q", *editable, env=env)
    assert installed.returncode == 0, installed.stderr
    listing = run("chinwag", "plugins", env=env)
    assert listing.returncode == 0, listing.stderr
    statuses = {entry["name"]: entry for entry in json.loads(listing.stdout)}
    for kind in KINDS:
        assert statuses[f"chinwag-acme-{kind}"]["status"] == "active", statuses.get(f"chinwag-acme-{kind}")
    assert "register_crm_connectors" in statuses["chinwag-acme-crm"]["hooks"]
    assert "prepare_theme" in statuses["chinwag-acme-theme"]["hooks"]
    tested = run("pytest", "-q", *(str(folder) for folder in folders), env=env)
    assert tested.returncode == 0, tested.stdout[-4000:] + tested.stderr[-2000:]
    summary = tested.stdout.strip().splitlines()[-1]
    assert "failed" not in summary and "error" not in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 20, summary  # every kind's tests ran, the CRM suite too


def test_bad_names_and_existing_folders_are_refused(tmp_path: Path) -> None:
    for name in ("Acme", "acme crm", "1acme", "acme--crm", "acme_"):
        result = run(CHINWAG, "new-plugin", name, "--kind", "card", "--directory", str(tmp_path))
        assert result.returncode == 2 and "use lower-case letters and digits" in result.stderr, (name, result.stderr)
    assert run(CHINWAG, "new-plugin", "acme", "--kind", "card", "--directory", str(tmp_path)).returncode == 0
    again = run(CHINWAG, "new-plugin", "acme", "--kind", "theme", "--directory", str(tmp_path))
    assert again.returncode == 2 and "exists already" in again.stderr
    assert "type: acme" in (tmp_path / "acme" / "README.md").read_text()  # the card, untouched
    wrong = run(CHINWAG, "new-plugin", "beta", "--kind", "widget", "--directory", str(tmp_path))
    assert wrong.returncode == 2 and "'widget' is not one of" in wrong.stderr
    assert not (tmp_path / "beta").exists()

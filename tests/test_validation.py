"""``chinwag validate`` and ``serve`` name the file, the place and what is wrong, and exit non-zero."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chinwag.testing import QUICKSTART, write_project

CHINWAG = [str(Path(sys.executable).parent / "chinwag")]


def validate(project: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os
    return subprocess.run([*CHINWAG, "validate", str(project)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def dialogue_with(cards: list[dict]) -> dict:
    return {"id": "broken", "name": "Broken", "cards": cards}


def test_quickstart_is_valid() -> None:
    result = validate(QUICKSTART)
    assert result.returncode == 0, result.stderr
    assert "ok, 1 dialogue(s): welcome" in result.stdout


@pytest.mark.parametrize(("cards", "expected"), [
    ([{"id": "a", "type": "carousel", "text": "x"}],
     "card 'a': unknown card type 'carousel'"),
    ([{"id": "a", "type": "message", "text": "x", "next": "nowhere"}],
     "card 'a': 'next' points to 'nowhere', but there is no card with that id"),
    ([{"id": "a", "type": "end"}, {"id": "orphan", "type": "message", "text": "x"}],
     "card 'orphan': unreachable: no card leads here"),
    ([{"id": "a", "type": "capture", "text": "x", "field": "lead.shoeSize"}],
     "card 'a': 'field' maps to unknown attribute 'lead.shoeSize'"),
    ([{"id": "a", "type": "capture", "text": "x", "field": "visit.page_url"}],
     "'field' maps to 'visit.page_url', which is read-only"),
    ([{"id": "a", "type": "question", "text": "x", "buttons": []}],
     "card 'a': 'buttons' must be a non-empty list"),
    ([{"id": "a", "type": "branch", "rules": [{"if": {"attribute": "lead.age", "op": "gt", "value": 3}, "next": "a"}]}],
     "unknown attribute 'lead.age'"),
    ([{"id": "a", "type": "message", "text": "Hi {{lead.nickname}}"}],
     "token {{lead.nickname}} names an unknown attribute"),
    ([{"id": "a", "type": "message"}], "card 'a': 'text' is required"),
    ([{"id": "a", "type": "message", "text": "x"}, {"id": "a", "type": "end"}], "another card already has this id"),
])
def test_dialogue_problems_are_named(tmp_path: Path, cards: list[dict], expected: str) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, dialogues={"broken": dialogue_with(cards)})
    result = validate(project)
    assert result.returncode == 1
    assert f"{project / 'dialogues' / 'broken.yaml'}:" in result.stderr
    assert "dialogue 'broken'" in result.stderr
    assert expected in result.stderr


def test_problem_names_the_line(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, dialogues={"broken": (
        "id: broken\nname: Broken\ncards:\n  - id: a\n    type: message\n    text: hi\n"
        "  - id: b\n    type: message\n    text: x\n    next: missing\n")})
    result = validate(project)
    assert f"broken.yaml:7: dialogue 'broken', card 'b': 'next' points to 'missing'" in result.stderr


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, dialogues={"broken": "id: x\ncards: [\n  - id: a\n"})
    result = validate(project)
    assert result.returncode == 1
    assert "broken.yaml:" in result.stderr


def test_config_problems_are_named(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, config={
        "allowed_origins": ["example.com/path"], "colour": "red",
        "retention": {"anonymous_days": 0, "activity_days": None, "forever": 1, "purge_every": -1},
        "admin_token": {"$env": "CHINWAG_TEST_UNSET_VARIABLE"}})
    result = validate(project)
    assert result.returncode == 1
    for expected in ("allowed_origins: must be a list of origins",
                     "retention.anonymous_days: must be a whole number of days, at least 1",
                     "retention.forever: unknown setting", "retention.purge_every: must be a number of seconds, at least 0",
                     "colour: unknown setting", "environment variable CHINWAG_TEST_UNSET_VARIABLE is not set"):
        assert expected in result.stderr
    assert "chinwag.yaml:" in result.stderr


def test_public_url_and_outbox_settings_are_checked_with_their_lines(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, config={
        "public_url": "chat.example.com", "meetings": {"public_url": "https://chat.example.com"},
        "outbox": {"max_attempts": 0, "base_delay": "soon", "linger": -1, "retries": 3}})
    result = validate(project)
    assert result.returncode == 1
    lines = (project / "chinwag.yaml").read_text().splitlines()
    outbox_line = lines.index("outbox:") + 1
    for expected in (
            f"chinwag.yaml:{lines.index('public_url: chat.example.com') + 1}: public_url: must be the URL the server is reached at",
            "meetings.public_url: moved: public_url is now a top-level setting of chinwag.yaml",
            f"chinwag.yaml:{outbox_line + 1}: outbox.max_attempts: must be a whole number, at least 1",
            f"chinwag.yaml:{outbox_line + 2}: outbox.base_delay: must be a number of seconds",
            f"chinwag.yaml:{outbox_line + 3}: outbox.linger: must be a number of seconds, at least 0",
            f"chinwag.yaml:{outbox_line + 4}: outbox.retries: unknown setting"):
        assert expected in result.stderr, expected


def test_secret_from_environment_is_read(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART,
                            config={"admin_token": {"$env": "CHINWAG_TEST_ADMIN_TOKEN"}})
    assert validate(project, {"CHINWAG_TEST_ADMIN_TOKEN": "x" * 32}).returncode == 0


def test_card_type_of_a_plugin_that_is_installed_validates(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, dialogues={"quotes": {
        "id": "quotes", "name": "Quotes", "cards": [{"id": "q", "type": "quote", "quotes": ["Great!"]}]}})
    assert validate(project).returncode == 0
    import os
    env = {"CHINWAG_DISABLE_PLUGINS": "chinwag-quote-card"}
    result = validate(project, env)
    assert result.returncode == 1
    assert "unknown card type 'quote'" in result.stderr and "is that plugin installed?" in result.stderr
    assert os.environ.get("CHINWAG_DISABLE_PLUGINS") is None


def test_serve_refuses_to_start_on_the_same_problems(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART,
                            dialogues={"broken": dialogue_with([{"id": "a", "type": "carousel"}])})
    result = subprocess.run([*CHINWAG, "serve", str(project), "--port", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "unknown card type 'carousel'" in result.stderr
    assert "nothing was started" in result.stderr


def test_missing_project_folder_is_an_error(tmp_path: Path) -> None:
    result = validate(tmp_path / "nope")
    assert result.returncode == 1
    assert "no such project folder" in result.stderr


def test_the_old_retention_days_setting_says_where_it_moved(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, config={"retention_days": 30})
    result = validate(project)
    assert result.returncode == 1
    assert "retention_days: has moved: write retention:" in result.stderr and "unknown setting" not in result.stderr

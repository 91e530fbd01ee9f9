"""Presets, the contrast check, and the settings of the header, the footer, the launcher and the agents."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from chinwag.app import Chinwag
from chinwag.server import create_app
from chinwag.testing import QUICKSTART, write_project
from chinwag.theme import DEFAULT_COLORS
from chinwag_widget_theme.contrast import contrast, weak_pairs
from chinwag_widget_theme.presets import PRESETS
from chinwag_widget_theme.settings import COLOR_KEYS, read_theme
from theme_images import png_bytes

AGENTS = {"ada@example.com": "Ada Lovelace", "grace@example.com": "Grace Hopper"}


def colors_of(variables: dict[str, str]) -> dict[str, str]:
    return {key: variables[name] for key, name in COLOR_KEYS.items()}


def test_contrast_is_wcags_ratio() -> None:
    assert round(contrast("#000000", "#ffffff"), 2) == 21.0
    assert round(contrast("#fff", "#fff"), 2) == 1.0
    assert round(contrast("#0969da", "#1f6feb"), 2) == 1.12  # the header's old focus ring
    assert round(contrast("#d1d9e0", "#ffffff"), 2) == 1.43  # the text field's old edge
    assert round(contrast("#00000080", "#ffffff"), 2) == round(contrast("#7f7f7f", "#ffffff"), 2)  # laid over the window


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_both_presets_and_the_built_in_colours_pass_wcag_aa(preset: str) -> None:
    assert weak_pairs(colors_of(PRESETS[preset])) == []
    assert weak_pairs(colors_of(DEFAULT_COLORS)) == []
    assert set(PRESETS[preset]) == set(DEFAULT_COLORS)  # a preset sets every colour


def test_the_dark_preset_sets_every_colour_and_the_sections_colours_go_on_top(tmp_path: Path) -> None:
    settings = read_theme({"preset": "dark", "colors": {"primary": "#ff9f1c"}}, tmp_path)
    assert settings.problems == []
    assert settings.vars["--cw-background"] == PRESETS["dark"]["--cw-background"]
    assert settings.vars["--cw-primary"] == settings.vars["--cw-launcher"] == "#ff9f1c"  # followers follow
    assert settings.vars["--cw-bot-bubble"] == PRESETS["dark"]["--cw-bot-bubble"]


def test_the_header_footer_launcher_and_end_settings_reach_the_theme(tmp_path: Path) -> None:
    settings = read_theme({
        "radius": 8, "subtitle": " We usually reply in a few minutes ", "bottom_offset": 84, "start_over": False,
        "powered_by": "Chat by Acme", "powered_by_url": "https://acme.example/chat",
    }, tmp_path)
    assert settings.problems == []
    assert settings.vars == {"--cw-radius": "8px"}
    assert settings.options == {"subtitle": "We usually reply in a few minutes", "bottomOffset": 84, "startOver": False,
                                "poweredBy": "Chat by Acme", "poweredByUrl": "https://acme.example/chat"}
    assert read_theme({"powered_by": True}, tmp_path).options == {"poweredBy": True}  # the widget's own words


@pytest.mark.parametrize(("section", "key", "expected"), [
    ({"preset": "sepia"}, "preset", "must be light or dark"),
    ({"radius": 30}, "radius", "from 0 to 24"),
    ({"radius": "8px"}, "radius", "whole number of pixels"),
    ({"subtitle": ""}, "subtitle", "1 to 80 characters"),
    ({"subtitle": "x" * 81}, "subtitle", "1 to 80 characters"),
    ({"bottom_offset": -5}, "bottom_offset", "from 0 to 400"),
    ({"start_over": "no"}, "start_over", "true or false"),
    ({"powered_by": 3}, "powered_by", "true, false or a line of 1 to 60 characters"),
    ({"powered_by_url": "acme.example"}, "powered_by_url", "http(s) URL"),
    ({"colors": {"input_border": "grey"}}, "colors.input_border", "hex colour"),
    ({"agent_photos": ["ada.png"]}, "agent_photos", "must map agents' emails"),
    ({"agent_photos": {"bob@example.com": "bob.png"}}, "agent_photos.bob@example.com", "is not an agent of agents:"),
    ({"agent_photos": {"ada@example.com": "missing.png"}}, "agent_photos.ada@example.com", "no such file"),
])
def test_an_invalid_new_setting_is_named_with_the_expected_form(tmp_path: Path, section: dict, key: str, expected: str) -> None:
    settings = read_theme(section, tmp_path, AGENTS)
    assert expected in dict(settings.problems)[key], settings.problems
    assert not settings.options  # nothing invalid reaches the widget


def test_agents_photos_are_checked_like_the_avatar_and_named_from_agents(tmp_path: Path) -> None:
    (tmp_path / "ada.png").write_bytes(png_bytes(64, 64))
    (tmp_path / "grace.png").write_bytes(png_bytes(64, 32))
    settings = read_theme({"agent_photos": {"Ada@Example.com": "ada.png", "grace@example.com": "grace.png"}}, tmp_path, AGENTS)
    assert dict(settings.problems) == {"agent_photos.grace@example.com": "must be square; grace.png is 64x32 px"}
    [photo] = settings.agent_photos
    assert settings.options["agents"] == [{"name": "Ada Lovelace", "photo": photo.path}]
    assert photo.path.startswith("/-/widget-theme/agent-") and photo.data == png_bytes(64, 64)


def test_a_weak_pair_names_the_setting_that_chose_its_colours(tmp_path: Path) -> None:
    settings = read_theme({"colors": {"primary": "#f2c94c", "text": "#9a9a9a"}}, tmp_path)
    found = settings.weak_contrasts()
    # White on yellow: the send button; yellow on white: the buttons that follow primary.
    by_primary = [message for setting, message in found if setting == "colors.primary"]
    assert any(message.startswith("primary_text #ffffff on primary #f2c94c") and "under WCAG AA's 4.5:1" in message
               for message in by_primary)
    assert any(message.startswith("button_border #f2c94c on background #ffffff") for message in by_primary)
    [by_text] = [message for setting, message in found if setting == "colors.text"]
    assert by_text.startswith("text #9a9a9a on background #ffffff has a contrast of 2.")
    assert read_theme({"preset": "dark"}, tmp_path).weak_contrasts() == []


WEAK_THEME = """\
name: Acme
attributes:
  - {name: lead.interest, type: string}
  - {name: lead.teamSize, type: string}
  - {name: lead.meetingAgent, type: string}
plugins:
  widget_theme:
    colors:
      muted: "#b0b0b0"
    agent_photos:
      ada@example.com: ada.png
agents:
  - {email: ada@example.com, name: Ada Lovelace, time_zone: Europe/London, provider: google,
     availability: {monday: ["09:00-17:00"]}}
"""


async def test_weak_contrast_is_a_warning_with_its_line_and_agents_photos_are_served(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    project = write_project(tmp_path / "weak", copy_from=QUICKSTART)
    (project / "chinwag.yaml").write_text(WEAK_THEME)
    (project / "ada.png").write_bytes(png_bytes(48, 48))
    with caplog.at_level(logging.WARNING, logger="chinwag.widget_theme"):
        app = Chinwag.from_project(project)  # a warning: the server still starts
    [warning] = [record.getMessage() for record in caplog.records if record.name == "chinwag.widget_theme"]
    assert warning.startswith(f"warning: {project / 'chinwag.yaml'}:9: plugins.widget_theme.colors.muted: muted #b0b0b0")
    [agent] = app.theme["options"]["agents"]
    assert agent["name"] == "Ada Lovelace"
    transport = httpx.ASGITransport(app=create_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://chinwag.test") as client:
        response = await client.get(agent["photo"])
    assert response.status_code == 200 and response.content == png_bytes(48, 48)

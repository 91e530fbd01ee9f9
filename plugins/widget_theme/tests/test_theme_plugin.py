"""The plugin inside chinwag: startup and ``chinwag validate`` refuse bad values; the theme and avatar are served."""

from __future__ import annotations

from pathlib import Path

import pytest
from chinwag.app import Chinwag
from chinwag.cli import cli
from chinwag.problems import InvalidProject
from chinwag.server import create_app
from chinwag.testing import QUICKSTART, write_project
from chinwag.theme import DEFAULT_COLORS
import httpx
from click.testing import CliRunner
from theme_images import png_bytes

BAD_THEME = """\
name: Acme
attributes:
  - {name: lead.interest, type: string}
  - {name: lead.teamSize, type: string}
plugins:
  widget_theme:
    colors:
      primary: "#0a7d55"
      header: navy
    position: top
"""


@pytest.fixture
def bad_project(tmp_path: Path) -> Path:
    project = write_project(tmp_path / "bad", copy_from=QUICKSTART)
    (project / "chinwag.yaml").write_text(BAD_THEME)
    return project


def test_the_server_refuses_to_start_naming_the_key_and_its_line(bad_project: Path) -> None:
    with pytest.raises(InvalidProject) as raised:
        Chinwag.from_project(bad_project)
    found = {problem.where: problem for problem in raised.value.problems}
    header = found["plugins.widget_theme.colors.header"]
    assert (header.line, header.file) == (9, str(bad_project / "chinwag.yaml"))
    assert "hex colour like #1f6feb" in header.message
    assert found["plugins.widget_theme.position"].line == 10
    assert "left or right" in found["plugins.widget_theme.position"].message


def test_chinwag_validate_names_the_key_and_exits_1(bad_project: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(bad_project)])
    assert result.exit_code == 1
    assert "chinwag.yaml:9: plugins.widget_theme.colors.header: must be a hex colour" in result.output


def test_without_settings_the_theme_is_the_built_in_one(tmp_path: Path) -> None:
    app = Chinwag.from_project(write_project(tmp_path / "plain", copy_from=QUICKSTART))
    assert {name: app.theme["vars"][name] for name in DEFAULT_COLORS} == DEFAULT_COLORS
    assert app.theme["options"]["avatarUrl"] is None


async def test_the_theme_and_the_avatar_are_served(tmp_path: Path) -> None:
    project = write_project(tmp_path / "branded", copy_from=QUICKSTART, config={
        "plugins": {"widget_theme": {"colors": {"primary": "#0a7d55"}, "bot_label": "Acme bot", "avatar": "bot.png"}},
    })
    (project / "bot.png").write_bytes(png_bytes(32, 32))
    app = Chinwag.from_project(project)
    assert app.theme["vars"]["--cw-launcher"] == "#0a7d55"
    assert app.theme["options"]["botLabel"] == "Acme bot"
    avatar_url = app.theme["options"]["avatarUrl"]
    transport = httpx.ASGITransport(app=create_app(app))  # no lifespan: the store is not needed
    async with httpx.AsyncClient(transport=transport, base_url="http://chinwag.test") as client:
        response = await client.get(avatar_url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == png_bytes(32, 32)
    assert "immutable" in response.headers["cache-control"]

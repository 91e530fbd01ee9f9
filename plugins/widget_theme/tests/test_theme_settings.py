"""The widget_theme section: every key checked with a message naming it, and turned into a theme."""

from __future__ import annotations

from pathlib import Path

import pytest
from chinwag_widget_theme.images import gif_size, image_size, jpeg_size, png_size, svg_size, webp_size
from chinwag_widget_theme.settings import AVATAR_ROUTE_PREFIX, COLOR_KEYS, read_theme
from theme_images import gif_bytes, jpeg_bytes, png_bytes, svg_bytes, webp_bytes


def problems_of(section: dict, project: Path) -> dict[str, str]:
    return dict(read_theme(section, project).problems)


def test_an_empty_section_changes_nothing(tmp_path: Path) -> None:
    settings = read_theme({}, tmp_path)
    assert (settings.vars, settings.options, settings.avatar, settings.problems) == ({}, {}, None, [])


def test_every_setting_reaches_the_theme(tmp_path: Path) -> None:
    (tmp_path / "bot.png").write_bytes(png_bytes(64, 64))
    settings = read_theme({
        "colors": {"primary": "#0a7d55", "bot_bubble": "#EEE"},
        "font_family": "Georgia, 'Times New Roman', serif",
        "font_url": "https://fonts.example.com/css?family=Inter",
        "position": "left", "padding": 32, "bot_label": "  Acme Assistant ",
        "avatar": "bot.png", "response_delay": 0.4, "sound": True, "poke": True,
        "poke_mobile": False, "privacy_url": "https://acme.example/privacy",
    }, tmp_path)
    assert settings.problems == []
    assert settings.vars["--cw-primary"] == "#0a7d55"
    assert settings.vars["--cw-bot-bubble"] == "#EEE"
    assert settings.vars["--cw-font-family"] == "Georgia, 'Times New Roman', serif"
    assert settings.options == {
        "fontUrl": "https://fonts.example.com/css?family=Inter", "position": "left", "padding": 32,
        "botLabel": "Acme Assistant", "responseDelay": 0.4, "sound": True, "poke": True,
        "pokeMobile": False, "privacyUrl": "https://acme.example/privacy",
        "avatarUrl": settings.avatar.path,
    }
    assert settings.avatar.media_type == "image/png"
    assert settings.avatar.path.startswith(AVATAR_ROUTE_PREFIX + "avatar-") and settings.avatar.path.endswith(".png")


def test_the_brand_colour_carries_to_the_parts_that_follow_it(tmp_path: Path) -> None:
    colors = read_theme({"colors": {"primary": "#123456", "header": "#000000"}}, tmp_path).vars
    assert colors["--cw-launcher"] == colors["--cw-visitor-bubble"] == colors["--cw-button-border"] == "#123456"
    assert colors["--cw-header"] == "#000000"  # set itself, so it does not follow
    assert "--cw-bot-bubble" not in colors


def test_every_colour_key_names_a_theme_variable() -> None:
    assert COLOR_KEYS["bot_bubble"] == "--cw-bot-bubble"
    assert all(name == "--cw-" + key.replace("_", "-") for key, name in COLOR_KEYS.items())


@pytest.mark.parametrize(("section", "key", "expected"), [
    ({"colors": {"primary": "blue"}}, "colors.primary", "hex colour like #1f6feb"),
    ({"colors": {"primary": "#12345"}}, "colors.primary", "hex colour"),
    ({"colors": {"sidebar": "#fff"}}, "colors.sidebar", "unknown part of the widget"),
    ({"colors": ["#fff"]}, "colors", "must map parts of the widget"),
    ({"font_family": "Inter; background: url(x)"}, "font_family", "CSS font list"),
    ({"font_url": "javascript:alert(1)"}, "font_url", "http(s) URL"),
    ({"position": "center"}, "position", "left or right"),
    ({"padding": 12.5}, "padding", "whole number of pixels from 0 to 200"),
    ({"padding": 500}, "padding", "from 0 to 200"),
    ({"bot_label": ""}, "bot_label", "1 to 60 characters"),
    ({"response_delay": -1}, "response_delay", "seconds from 0 to 30"),
    ({"response_delay": True}, "response_delay", "seconds from 0 to 30"),
    ({"sound": "yes"}, "sound", "true or false"),
    ({"poke": 1}, "poke", "true or false"),
    ({"poke_mobile": None}, "poke_mobile", "true or false"),
    ({"privacy_url": "privacy.html"}, "privacy_url", "http(s) URL"),
    ({"avatar": 7}, "avatar", "path of a square image"),
    ({"launcher_icon": "x"}, "launcher_icon", "unknown setting"),
])
def test_an_invalid_value_is_named_with_the_expected_form(tmp_path: Path, section: dict, key: str, expected: str) -> None:
    settings = read_theme(section, tmp_path)
    assert key in dict(settings.problems)
    assert expected in dict(settings.problems)[key]
    assert not settings.options and not settings.vars  # nothing invalid reaches the widget


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("missing.png", None, "no such file"),
    ("bot.bmp", b"BM....", "must be a"),
    ("big.png", png_bytes(16, 16) + b"\x00" * (256 * 1024), "at most 256 KB"),
    ("wide.png", png_bytes(120, 80), "must be square; wide.png is 120x80 px"),
    ("huge.png", png_bytes(400, 400), "at most 200x200 px"),
    ("huge.svg", svg_bytes(512, 512), "at most 200x200 px"),
    ("fake.png", gif_bytes(32, 32), "not a readable PNG image"),
    ("broken.svg", b"<svg", "not a readable SVG image"),
])
def test_an_avatar_that_breaks_a_rule_is_refused(tmp_path: Path, name: str, content: bytes | None, expected: str) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    problems = problems_of({"avatar": name}, tmp_path)
    assert expected in problems["avatar"]


@pytest.mark.parametrize(("name", "content", "media_type"), [
    ("a.png", png_bytes(200, 200), "image/png"),
    ("a.jpg", jpeg_bytes(120, 120), "image/jpeg"),
    ("a.jpeg", jpeg_bytes(1, 1), "image/jpeg"),
    ("a.gif", gif_bytes(48, 48), "image/gif"),
    ("a.webp", webp_bytes(96, 96), "image/webp"),
    ("a.svg", svg_bytes(24, 24), "image/svg+xml"),
])
def test_each_allowed_image_type_is_accepted(tmp_path: Path, name: str, content: bytes, media_type: str) -> None:
    (tmp_path / name).write_bytes(content)
    settings = read_theme({"avatar": name}, tmp_path)
    assert settings.problems == []
    assert settings.avatar.media_type == media_type and settings.avatar.data == content


def test_image_readers_know_their_own_format_only() -> None:
    assert png_size(png_bytes(3, 5)) == (3, 5)
    assert gif_size(gif_bytes(7, 9)) == (7, 9)
    assert jpeg_size(jpeg_bytes(640, 480)) == (640, 480)
    assert webp_size(webp_bytes(300, 200)) == (300, 200)
    assert svg_size(b'<svg xmlns="http://www.w3.org/2000/svg" width="40px" height="40" viewBox="0 0 1 1"/>') == (40, 40)
    assert image_size(png_bytes(3, 3), "image/gif") is None
    assert image_size(b"", "image/jpeg") is None
    assert svg_size(b"<html/>") is None

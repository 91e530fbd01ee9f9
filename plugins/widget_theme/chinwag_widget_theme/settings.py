"""The plugin's settings, chinwag.yaml ``plugins: widget_theme: {...}``, checked and turned into a theme.

One function, ``read_theme``, both checks the section and builds the theme changes from it, so
the rules that ``chinwag validate`` applies and the values the widget gets can never drift apart.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import attrs
from chinwag.theme import DEFAULT_COLORS

from .contrast import WeakPair, weak_pairs
from .images import IMAGE_TYPES, image_size
from .presets import PRESETS

PLUGIN_NAME = "widget_theme"
AVATAR_ROUTE_PREFIX = "/-/widget-theme/"
AVATAR_MAX_BYTES = 256 * 1024
AVATAR_MAX_PIXELS = 200

# colors: {<key>: "#hex"}: one key per CSS custom property of chinwag.theme (--cw-bot-bubble -> bot_bubble).
COLOR_KEYS: dict[str, str] = {name.removeprefix("--cw-").replace("-", "_"): name for name in DEFAULT_COLORS}
# Colours that take the brand colour unless set themselves, so ``primary`` alone re-brands the widget.
FOLLOWS: dict[str, str] = {
    "launcher": "primary", "header": "primary", "visitor_bubble": "primary",
    "button_text": "primary", "button_border": "primary",
    "launcher_text": "primary_text", "header_text": "primary_text", "visitor_text": "primary_text",
}
# Plain settings: key -> (option name in the theme, check returning an error message or None).
HEX_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
FONT_FAMILY = re.compile(r"^[A-Za-z0-9 ,'\"._-]{1,200}$")
KNOWN_KEYS = ("preset", "colors", "font_family", "font_url", "radius", "position", "padding", "bottom_offset",
              "bot_label", "subtitle", "avatar", "agent_photos", "response_delay", "sound", "poke", "poke_mobile",
              "start_over", "privacy_url", "powered_by", "powered_by_url")


@attrs.frozen
class Avatar:
    """A checked image (the avatar, an agent's photo), served by the chinwag server at ``path``."""

    data: bytes
    media_type: str
    path: str


@attrs.define
class ThemeSettings:
    """What the section asks for, and what is wrong with it.

    ``problems`` pairs the dotted key (``colors.header``) with a message naming the expected form.
    ``vars`` and ``options`` hold only the valid values, ready to merge into the theme.
    """

    vars: dict[str, str] = attrs.field(factory=dict)
    options: dict[str, Any] = attrs.field(factory=dict)
    avatar: Avatar | None = None
    agent_photos: list[Avatar] = attrs.field(factory=list)
    problems: list[tuple[str, str]] = attrs.field(factory=list)
    # Colour key -> the setting that chose it (``colors.primary`` for the parts that follow it,
    # ``preset``), so a contrast warning names the line to change.
    color_sources: dict[str, str] = attrs.field(factory=dict)

    @property
    def images(self) -> list[Avatar]:
        """Every image the plugin serves: the avatar and the agents' photos."""
        return ([self.avatar] if self.avatar else []) + self.agent_photos

    def colors(self) -> dict[str, str]:
        """Every colour as this section leaves it (the built-in ones where it sets none), by key."""
        chosen = {**DEFAULT_COLORS, **self.vars}
        return {key: chosen[name] for key, name in COLOR_KEYS.items()}

    def weak_contrasts(self) -> list[tuple[str, str]]:
        """(setting, message) for each text/background pair under WCAG AA, naming the setting that
        chose the colours: a warning, since the widget still works."""
        colors = self.colors()
        return [(self._blamed(pair), pair.message(colors)) for pair in weak_pairs(colors)]

    def _blamed(self, pair: WeakPair) -> str:
        sources = [self.color_sources[key] for key in (pair.foreground, pair.background) if key in self.color_sources]
        return sources[0] if sources else "colors"


def _web_url(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2048:
        return False
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _number(value: Any, low: float, high: float, whole: bool = False) -> bool:
    kinds = (int,) if whole else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool) and low <= value <= high


# key -> (theme option, is the value valid, the expected form for the message)
OPTION_RULES: dict[str, tuple[str, Any, str]] = {
    "font_url": ("fontUrl", _web_url, "an http(s) URL of a stylesheet that declares the font"),
    "position": ("position", lambda v: v in ("left", "right"), "left or right"),
    "padding": ("padding", lambda v: _number(v, 0, 200, whole=True), "a whole number of pixels from 0 to 200"),
    "bot_label": ("botLabel", lambda v: isinstance(v, str) and 0 < len(v.strip()) <= 60, "a name of 1 to 60 characters"),
    "response_delay": ("responseDelay", lambda v: _number(v, 0, 30), "a number of seconds from 0 to 30"),
    "sound": ("sound", lambda v: isinstance(v, bool), "true or false"),
    "poke": ("poke", lambda v: isinstance(v, bool), "true or false"),
    "poke_mobile": ("pokeMobile", lambda v: isinstance(v, bool), "true or false"),
    "privacy_url": ("privacyUrl", _web_url, "an http(s) URL like https://www.example.com/privacy"),
    "subtitle": ("subtitle", lambda v: isinstance(v, str) and 0 < len(v.strip()) <= 80, "a line of 1 to 80 characters"),
    "bottom_offset": ("bottomOffset", lambda v: _number(v, 0, 400, whole=True), "a whole number of pixels from 0 to 400"),
    "start_over": ("startOver", lambda v: isinstance(v, bool), "true or false"),
    "powered_by": ("poweredBy", lambda v: isinstance(v, bool) or isinstance(v, str) and 0 < len(v.strip()) <= 60,
                   "true, false or a line of 1 to 60 characters"),
    "powered_by_url": ("poweredByUrl", _web_url, "an http(s) URL"),
}


def read_theme(section: Mapping[str, Any], project_dir: Path, agents: Mapping[str, str] | None = None) -> ThemeSettings:
    """Check the plugin's section and build the theme changes it asks for.

    ``agents`` maps the project's agents' emails to their names (``agents:`` in chinwag.yaml), for
    ``agent_photos``.
    """
    settings = ThemeSettings()
    problems = settings.problems
    for key in sorted(set(section) - set(KNOWN_KEYS), key=str):
        problems.append((str(key), f"unknown setting (known: {', '.join(KNOWN_KEYS)})"))
    if "preset" in section:
        preset = section["preset"]
        if preset in PRESETS:
            settings.vars.update(PRESETS[preset])
            settings.color_sources.update(dict.fromkeys(COLOR_KEYS, "preset"))
        else:
            problems.append(("preset", f"must be {' or '.join(PRESETS)}, not {preset!r}"))
    _read_colors(section.get("colors"), settings)
    if "radius" in section:
        if _number(section["radius"], 0, 24, whole=True):
            settings.vars["--cw-radius"] = f"{section['radius']}px"
        else:
            problems.append(("radius", f"must be a whole number of pixels from 0 to 24, not {section['radius']!r}"))
    if "font_family" in section:
        family = section["font_family"]
        if isinstance(family, str) and FONT_FAMILY.match(family.strip()):
            settings.vars["--cw-font-family"] = family.strip()
        else:
            problems.append(("font_family", "must be a CSS font list like \"Inter, Helvetica, sans-serif\" "
                                            "(letters, digits, spaces, commas, quotes, dots, dashes)"))
    for key, (option, valid, expected) in OPTION_RULES.items():
        if key not in section:
            continue
        value = section[key]
        if valid(value):
            settings.options[option] = value.strip() if isinstance(value, str) else value
        else:
            problems.append((key, f"must be {expected}, not {value!r}"))
    if "avatar" in section:
        avatar, problem = _read_avatar(section["avatar"], project_dir)
        if problem:
            problems.append(("avatar", problem))
        else:
            settings.avatar = avatar
            settings.options["avatarUrl"] = avatar.path
    if "agent_photos" in section:
        _read_agent_photos(section["agent_photos"], project_dir, agents or {}, settings)
    return settings


def _read_agent_photos(photos: Any, project_dir: Path, agents: Mapping[str, str], settings: ThemeSettings) -> None:
    """``agent_photos: {<agent's email>: <image file>}``: the agents shown in the header and on the
    meeting picker, with their names from ``agents:``."""
    if not isinstance(photos, Mapping):
        settings.problems.append(("agent_photos", "must map agents' emails (from agents:) to square image files"))
        return
    shown = []
    for email, path in photos.items():
        name = agents.get(str(email).lower())
        if name is None:
            known = ", ".join(agents) or "none in chinwag.yaml"
            settings.problems.append((f"agent_photos.{email}", f"is not an agent of agents: (agents: {known})"))
            continue
        photo, problem = _read_avatar(path, project_dir, prefix="agent")
        if problem:
            settings.problems.append((f"agent_photos.{email}", problem))
            continue
        settings.agent_photos.append(photo)
        shown.append({"name": name, "photo": photo.path})
    if shown:
        settings.options["agents"] = shown


def _read_colors(colors: Any, settings: ThemeSettings) -> None:
    if colors is None:
        return
    if not isinstance(colors, Mapping):
        settings.problems.append(("colors", f"must map parts of the widget to hex colours (parts: {', '.join(COLOR_KEYS)})"))
        return
    chosen: dict[str, str] = {}
    for key, value in colors.items():
        if key not in COLOR_KEYS:
            settings.problems.append((f"colors.{key}", f"unknown part of the widget (known: {', '.join(COLOR_KEYS)})"))
        elif not isinstance(value, str) or not HEX_COLOR.match(value):
            settings.problems.append((f"colors.{key}", f"must be a hex colour like #1f6feb or #fff, not {value!r}"))
        else:
            chosen[key] = value
            settings.color_sources[key] = f"colors.{key}"
    for key, leader in FOLLOWS.items():
        if key not in chosen and leader in chosen:
            chosen[key] = chosen[leader]
            settings.color_sources[key] = f"colors.{leader}"
    settings.vars.update({COLOR_KEYS[key]: value for key, value in chosen.items()})


def _read_avatar(value: Any, project_dir: Path, prefix: str = "avatar") -> tuple[Avatar | None, str | None]:
    """The avatar image (or an agent's photo), or the reason it cannot be used."""
    kinds = ", ".join(sorted({ext.lstrip(".") for ext in IMAGE_TYPES}))
    if not isinstance(value, str) or not value.strip():
        return None, f"must be the path of a square image file in the project folder ({kinds})"
    path = (project_dir / value.strip()).resolve()
    extension = path.suffix.lower()
    if extension not in IMAGE_TYPES:
        return None, f"must be a {kinds} file, not {path.name}"
    if not path.is_file():
        return None, f"no such file: {value} (the path is relative to the project folder)"
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, f"cannot read {value}: {error.strerror or error}"
    if len(data) > AVATAR_MAX_BYTES:
        return None, f"must be at most 256 KB; {value} is {len(data) // 1024} KB"
    media_type, format_name = IMAGE_TYPES[extension]
    size = image_size(data, media_type)
    if size is None:
        return None, f"{value} is not a readable {format_name} image (or its size is not given in pixels)"
    width, height = size
    if width != height:
        return None, f"must be square; {value} is {width:g}x{height:g} px"
    if width > AVATAR_MAX_PIXELS:
        return None, f"must be at most {AVATAR_MAX_PIXELS}x{AVATAR_MAX_PIXELS} px; {value} is {width:g}x{height:g} px"
    # The content hash in the name lets browsers cache the image for good and still see a new one.
    digest = hashlib.sha256(data).hexdigest()[:12]
    return Avatar(data, media_type, f"{AVATAR_ROUTE_PREFIX}{prefix}-{digest}{extension}"), None

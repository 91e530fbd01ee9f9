"""chinwag-widget-theme: brand the chat widget from chinwag.yaml.

Configuration: ``plugins: widget_theme: {colors, font_family, font_url, position, padding,
bot_label, avatar, response_delay, sound, poke, poke_mobile, privacy_url}`` (see README.md).
Invalid values stop ``chinwag serve`` and ``chinwag validate`` with a message naming the key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chinwag import hookimpl
from chinwag.problems import Problem
from chinwag.yamlfile import line_of
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .settings import PLUGIN_NAME, Avatar, ThemeSettings, read_theme

if TYPE_CHECKING:
    from chinwag.app import Chinwag

__all__ = ["ThemeSettings", "read_theme"]


def _settings(config: Any) -> ThemeSettings:
    return read_theme(config.plugin_config(PLUGIN_NAME), config.project_dir)


@hookimpl
def prepare_theme(theme: dict[str, Any], app: Chinwag) -> None:
    """Merge the configured colours, font and options into the theme (invalid values are left out;
    ``check_config`` reports them and the server refuses to start)."""
    settings = _settings(app.config)
    theme["vars"].update(settings.vars)
    theme["options"].update(settings.options)


@hookimpl
def check_config(config: Any, app: Chinwag) -> list[Problem]:
    """Problems in ``plugins: widget_theme``, each with its line in chinwag.yaml."""
    source = (config.raw.get("plugins") or {}).get(PLUGIN_NAME)
    problems = []
    for key, message in _settings(config).problems:
        # colors.header -> the line of "header" inside the colors mapping
        parent, _, leaf = key.rpartition(".")
        node = source.get(parent) if parent and hasattr(source, "get") else source
        problems.append(Problem(str(config.file), line_of(node, leaf), f"plugins.{PLUGIN_NAME}.{key}", message))
    return sorted(problems, key=lambda problem: problem.line or 0)


@hookimpl
def register_routes(register: Any, app: Chinwag) -> None:
    """Serve the avatar image at the content-addressed path the theme names."""
    avatar = _settings(app.config).avatar
    if avatar is not None:
        register(Route(avatar.path, _avatar_endpoint(avatar), methods=["GET", "HEAD"], name="widget_theme:avatar"))


def _avatar_endpoint(avatar: Avatar):
    headers = {
        # The name changes with the content, so the image may be cached for good.
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        # Shown in <img> on other sites' pages; and an SVG opened on its own runs nothing.
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    }

    async def avatar_image(request: Request) -> Response:
        return Response(avatar.data, media_type=avatar.media_type, headers=headers)

    return avatar_image

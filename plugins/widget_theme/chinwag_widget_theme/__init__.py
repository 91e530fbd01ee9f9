"""chinwag-widget-theme: brand the chat widget from chinwag.yaml.

Configuration: ``plugins: widget_theme: {preset, colors, font_family, font_url, radius, position,
padding, bottom_offset, bot_label, subtitle, avatar, agent_photos, response_delay, sound, poke,
poke_mobile, start_over, privacy_url, powered_by, powered_by_url}`` (see README.md).
Invalid values stop ``chinwag serve`` and ``chinwag validate`` with a message naming the key; a
text/background pair under WCAG AA's contrast is a warning naming the setting's line.
"""

from __future__ import annotations

import logging
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

log = logging.getLogger("chinwag.widget_theme")


def _settings(config: Any) -> ThemeSettings:
    return read_theme(config.plugin_config(PLUGIN_NAME), config.project_dir, _agent_names(config.raw.get("agents")))


def _agent_names(agents: Any) -> dict[str, str]:
    """Email -> name of the project's agents (``agents:``; their own checks are the meetings')."""
    if not isinstance(agents, list):
        return {}
    return {str(agent["email"]).lower(): str(agent.get("name") or agent["email"])
            for agent in agents if hasattr(agent, "get") and isinstance(agent.get("email"), str)}


@hookimpl
def prepare_theme(theme: dict[str, Any], app: Chinwag) -> None:
    """Merge the configured colours, font and options into the theme (invalid values are left out;
    ``check_config`` reports them and the server refuses to start), and warn of colours whose
    contrast is under WCAG AA."""
    settings = _settings(app.config)
    theme["vars"].update(settings.vars)
    theme["options"].update(settings.options)
    for problem in _located(app.config, settings.weak_contrasts()):
        log.warning("warning: %s", problem)


@hookimpl
def check_config(config: Any, app: Chinwag) -> list[Problem]:
    """Problems in ``plugins: widget_theme``, each with its line in chinwag.yaml."""
    return _located(config, _settings(config).problems)


def _located(config: Any, found: list[tuple[str, str]]) -> list[Problem]:
    """(setting, message) pairs as problems with their line in chinwag.yaml, in line order."""
    source = (config.raw.get("plugins") or {}).get(PLUGIN_NAME)
    problems = []
    for key, message in found:
        # colors.header -> the line of "header" inside the colors mapping (agent_photos.<email> too)
        parent, _, leaf = key.partition(".")
        node = source.get(parent) if leaf and hasattr(source, "get") else source
        problems.append(Problem(str(config.file), line_of(node, leaf or parent), f"plugins.{PLUGIN_NAME}.{key}", message))
    return sorted(problems, key=lambda problem: problem.line or 0)


@hookimpl
def register_routes(register: Any, app: Chinwag) -> None:
    """Serve the avatar and the agents' photos at the content-addressed paths the theme names."""
    for image in _settings(app.config).images:
        register(Route(image.path, _avatar_endpoint(image), methods=["GET", "HEAD"], name=f"widget_theme:{image.path}"))


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

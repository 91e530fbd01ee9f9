"""The widget theme's built-in defaults; ``prepare_theme`` plugins change them."""

from __future__ import annotations

from typing import Any

from .config import Config


def default_theme(config: Config) -> dict[str, Any]:
    """CSS custom properties (``vars``) and widget options (``options``) before plugins run."""
    return {
        "vars": {
            "--cw-primary": "#1f6feb",
            "--cw-primary-text": "#ffffff",
            "--cw-background": "#ffffff",
            "--cw-text": "#1b1f24",
            "--cw-bot-bubble": "#f0f2f5",
            "--cw-bot-text": "#1b1f24",
            "--cw-visitor-bubble": "#1f6feb",
            "--cw-visitor-text": "#ffffff",
            "--cw-font-family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        },
        "options": {
            "botLabel": config.name,
            "position": "right",
            "padding": 20,
            "avatarUrl": None,
            "fontUrl": None,
            "responseDelay": config.response_delay,
            "sound": False,
            "poke": True,
            "pokeMobile": True,
            "privacyUrl": None,
        },
    }

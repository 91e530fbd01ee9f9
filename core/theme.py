"""The widget theme's built-in defaults; ``prepare_theme`` plugins change them.

The theme travels to the widget in the ``welcome`` frame. ``vars`` become CSS custom properties
on the widget's host element (the widget's stylesheet reads nothing else), and ``options``
switch its behaviour. Every variable and option is described in ``docs/widget.md``.
"""

from __future__ import annotations

from typing import Any

from .config import Config

PRIMARY = "#1f6feb"

# Each part of the widget's UI, its CSS custom property and the built-in colour.
DEFAULT_COLORS: dict[str, str] = {
    "--cw-primary": PRIMARY,               # send button, chosen and hovered choices
    "--cw-primary-text": "#ffffff",
    "--cw-launcher": PRIMARY,              # the round button that opens the chat
    "--cw-launcher-text": "#ffffff",
    "--cw-header": PRIMARY,                # the chat window's title bar
    "--cw-header-text": "#ffffff",
    "--cw-background": "#ffffff",          # the chat window and the poke teaser
    "--cw-text": "#1b1f24",
    "--cw-muted": "#59636e",               # notes, time zone line, footer
    "--cw-border": "#d1d9e0",
    "--cw-bot-bubble": "#f0f2f5",
    "--cw-bot-text": "#1b1f24",
    "--cw-visitor-bubble": PRIMARY,
    "--cw-visitor-text": "#ffffff",
    "--cw-button": "#ffffff",              # answer choices and slot buttons
    "--cw-button-text": PRIMARY,
    "--cw-button-border": PRIMARY,
    "--cw-input-background": "#ffffff",
    "--cw-input-text": "#1b1f24",
    "--cw-input-border": "#818b98",        # the text field's edge: 3:1 against its background
    "--cw-error": "#cf222e",
    "--cw-focus": "#0969da",               # the keyboard focus ring (the header's is its text colour)
}

DEFAULT_FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
DEFAULT_RADIUS = 16  # pixels: the window's corners; bubbles, buttons and cards follow it


def default_theme(config: Config) -> dict[str, Any]:
    """CSS custom properties (``vars``) and widget options (``options``) before plugins run."""
    return {
        "vars": {**DEFAULT_COLORS, "--cw-font-family": DEFAULT_FONT_FAMILY, "--cw-radius": f"{DEFAULT_RADIUS}px"},
        "options": {
            "botLabel": config.name,
            "position": "right",       # launcher corner: right or left
            "padding": 20,             # pixels between the launcher and the window's edges
            "avatarUrl": None,         # absolute, or relative to the chinwag server
            "fontUrl": None,           # a stylesheet declaring a web font (https)
            "responseDelay": config.response_delay,
            "sound": False,            # a short chime on each new bot message
            "poke": True,              # show the first question beside the closed launcher
            "pokeMobile": True,        # ... also on small or touch screens
            "privacyUrl": None,        # a "Privacy policy" link in the window's footer
            "subtitle": None,          # a line under the name in the header ("We usually reply in minutes")
            "agents": [],              # [{name, photo}]: shown in the header of a dialogue that books meetings
            "bottomOffset": 0,         # extra pixels above the page's bottom edge (clear of a cookie banner)
            "startOver": True,         # a "Start over" button once a conversation has ended
            "poweredBy": None,         # a "powered by" line in the footer: its text; off when None
            "poweredByUrl": None,      # ... and where it links
        },
    }

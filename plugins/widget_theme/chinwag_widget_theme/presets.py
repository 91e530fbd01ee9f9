"""The two ready-made looks, ``preset: light`` (chinwag's built-in colours) and ``preset: dark``.

A preset sets every colour; the section's own ``colors`` are applied on top of it. Both pass the
contrast checks of ``contrast.py`` (a test holds them to it).
"""

from __future__ import annotations

from chinwag.theme import DEFAULT_COLORS

# A dark window in the spirit of GitHub's dark theme, with a light blue brand colour and dark text
# on it (white on a mid blue stays under 4.5:1 on a dark window's scale).
DARK_COLORS: dict[str, str] = {
    "--cw-primary": "#58a6ff",
    "--cw-primary-text": "#0d1117",
    "--cw-launcher": "#58a6ff",
    "--cw-launcher-text": "#0d1117",
    "--cw-header": "#21262d",
    "--cw-header-text": "#e6edf3",
    "--cw-background": "#161b22",
    "--cw-text": "#e6edf3",
    "--cw-muted": "#9198a1",
    "--cw-border": "#30363d",
    "--cw-bot-bubble": "#21262d",
    "--cw-bot-text": "#e6edf3",
    "--cw-visitor-bubble": "#58a6ff",
    "--cw-visitor-text": "#0d1117",
    "--cw-button": "#161b22",
    "--cw-button-text": "#58a6ff",
    "--cw-button-border": "#58a6ff",
    "--cw-input-background": "#0d1117",
    "--cw-input-text": "#e6edf3",
    "--cw-input-border": "#768390",
    "--cw-error": "#ff7b72",
    "--cw-focus": "#79c0ff",
}

PRESETS: dict[str, dict[str, str]] = {"light": dict(DEFAULT_COLORS), "dark": DARK_COLORS}

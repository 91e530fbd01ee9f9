"""WCAG 2.1 contrast between the theme's colours: which text/background pairs fall under AA.

Text needs 4.5:1 against what it sits on (1.4.3); the launcher's icon, borders that show where a
control is, and the focus ring need 3:1 (1.4.11). The ratio is WCAG's: (L1 + 0.05) / (L2 + 0.05)
of the two colours' relative luminances.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

# (foreground key, background key, the least ratio, what a visitor would miss): keys of ``colors``.
PAIRS: tuple[tuple[str, str, float, str], ...] = (
    ("text", "background", 4.5, "the window's text"),
    ("muted", "background", 4.5, "notes, times and the time zone"),
    ("bot_text", "bot_bubble", 4.5, "the bot's messages"),
    ("visitor_text", "visitor_bubble", 4.5, "the visitor's messages"),
    ("primary_text", "primary", 4.5, "the send button, the chosen day and hovered answers"),
    ("header_text", "header", 4.5, "the header's name, subtitle and its focus ring"),
    ("launcher_text", "launcher", 3.0, "the launcher's icon"),
    ("button_text", "button", 4.5, "answer buttons and meeting times"),
    ("button_border", "background", 3.0, "where an answer button begins"),
    ("input_text", "input_background", 4.5, "what the visitor types"),
    ("input_border", "input_background", 3.0, "where the text field begins"),
    ("error", "background", 4.5, "error messages"),
    ("focus", "background", 3.0, "the keyboard focus ring"),
)


@attrs.frozen
class WeakPair:
    """A pair of colours under its least contrast."""

    foreground: str
    background: str
    ratio: float
    least: float
    purpose: str

    def message(self, colors: Mapping[str, str]) -> str:
        """How ``chinwag validate`` and the server's log say it."""
        return (f"{self.foreground} {colors[self.foreground]} on {self.background} {colors[self.background]} "
                f"has a contrast of {self.ratio:.2f}:1, under WCAG AA's {self.least:g}:1 for {self.purpose}")


def rgb(color: str) -> tuple[float, float, float, float]:
    """Red, green, blue and alpha from 0 to 1, of ``#rgb``, ``#rrggbb`` or ``#rrggbbaa``."""
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    channels = [int(digits[at:at + 2], 16) / 255 for at in range(0, len(digits), 2)]
    return channels[0], channels[1], channels[2], channels[3] if len(channels) == 4 else 1.0


def _over(top: tuple[float, ...], below: tuple[float, ...]) -> tuple[float, float, float, float]:
    """``top`` painted over the opaque ``below`` (a see-through colour shows what is under it)."""
    alpha = top[3]
    return (*(alpha * top[i] + (1 - alpha) * below[i] for i in range(3)), 1.0)  # type: ignore[return-value]


def luminance(channels: tuple[float, ...]) -> float:
    """WCAG's relative luminance of an opaque colour."""
    def linear(value: float) -> float:
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4
    red, green, blue = (linear(value) for value in channels[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(foreground: str, background: str, window: str = "#ffffff") -> float:
    """The contrast ratio of two hex colours; see-through ones are laid over the window's colour."""
    below = _over(rgb(background), _over(rgb(window), (1.0, 1.0, 1.0, 1.0)))
    lighter, darker = sorted((luminance(_over(rgb(foreground), below)), luminance(below)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def weak_pairs(colors: Mapping[str, str]) -> list[WeakPair]:
    """The pairs of ``colors`` (every key of ``PAIRS`` present) under their least contrast."""
    weak = []
    for foreground, background, least, purpose in PAIRS:
        ratio = contrast(colors[foreground], colors[background], colors["background"])
        if ratio < least:
            weak.append(WeakPair(foreground, background, ratio, least, purpose))
    return weak

"""Tokens in bot text: ``{{lead.firstName:"there"}}`` becomes the lead's first name, or "there".

The result is plain text; clients render it as text, so no escaping happens here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

TOKEN = re.compile(r"""\{\{\s*([A-Za-z_][\w.]*)\s*(?::\s*"((?:[^"\\]|\\.)*)"\s*)?\}\}""")


def render(text: str, lookup: Callable[[str], Any]) -> str:
    """Replace every token in ``text`` by its value, its default, or nothing."""
    if "{{" not in text:  # no token (every token starts so): most texts
        return text

    def replace(match: re.Match[str]) -> str:
        value = lookup(match.group(1))
        if value not in (None, ""):
            return str(value)
        return (match.group(2) or "").replace('\\"', '"')

    return TOKEN.sub(replace, text)


def tokens(text: str) -> list[str]:
    """The attribute names a text refers to (for validation)."""
    return [match.group(1) for match in TOKEN.finditer(text)]

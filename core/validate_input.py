"""Validation of typed answers: text, email and phone. The server is the authority.

Every typed answer is normalised (Unicode NFC, surrounding space trimmed, tabs and line breaks
made spaces, runs of them one) and refused when it holds control or invisible formatting characters. Free text
that looks like markup (``<img ...>``, ``</b>``) is refused, stripped or allowed as the card's
``markup`` setting says; wherever an answer is rendered later (a vendor payload, an invitation)
it is escaped for that format all the same.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import attrs
import phonenumbers
from email_validator import EmailNotValidError, validate_email

INPUT_KINDS = ("text", "email", "phone")
MAX_ANSWER = 500
MARKUP_POLICIES = ("refuse", "strip", "allow")
# A tag, a closing tag, a comment or a declaration: "<" then a letter, "/", "!" or "?".
MARKUP = re.compile(r"<[A-Za-z/!?][^<>]*>?")
# Bidirectional overrides and isolates can make text read differently from what is stored.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@attrs.frozen
class InputResult:
    """A normalised value, or what to tell the visitor: a catalog key (``invalid_email``...) and
    the values its ``{name}`` placeholders take."""

    value: str | None = None
    error: str | None = None
    error_values: Mapping[str, Any] = attrs.field(factory=dict)


def validate_input(kind: str, value: Any, locale: str | None = None, max_length: int = MAX_ANSWER,
                   markup: str = "refuse") -> InputResult:
    """Check a typed answer of ``kind``; phone numbers use the locale's region when national.

    ``max_length`` caps the answer (at most ``MAX_ANSWER``); ``markup`` (text only) is one of
    ``MARKUP_POLICIES``.
    """
    if not isinstance(value, str) or not value.strip():
        return InputResult(error="answer_empty")
    value = unicodedata.normalize("NFC", " ".join(value.split()))  # line breaks, tabs, runs: one space
    if _has_hidden_characters(value):
        return InputResult(error="answer_hidden_characters")
    if kind == "text" and markup != "allow" and MARKUP.search(value):
        if markup == "refuse":
            return InputResult(error="answer_markup")
        value = " ".join(MARKUP.sub(" ", value).split())
        if not value:
            return InputResult(error="answer_empty")
    limit = min(max_length, MAX_ANSWER)
    if len(value) > limit:
        return InputResult(error="answer_too_long", error_values={"max": limit})
    if kind == "email":
        try:
            return InputResult(value=validate_email(value, check_deliverability=False).normalized)
        except EmailNotValidError:
            return InputResult(error="invalid_email")
    if kind == "phone":
        region = locale.replace("_", "-").split("-")[-1].upper() if locale and "-" in locale.replace("_", "-") else None
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_possible_number(number):
            return InputResult(error="invalid_phone")
        return InputResult(value=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return InputResult(value=value)


def _has_hidden_characters(value: str) -> bool:
    """Control characters, surrogates, private-use and unassigned code points, bidi controls."""
    return any(unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn") or char in BIDI_CONTROLS for char in value)

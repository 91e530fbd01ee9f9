"""Validation of typed answers: text, email and phone. The server is the authority."""

from __future__ import annotations

from typing import Any

import attrs
import phonenumbers
from email_validator import EmailNotValidError, validate_email

INPUT_KINDS = ("text", "email", "phone")
MAX_ANSWER = 500


@attrs.frozen
class InputResult:
    """A normalised value, or the message to show the visitor."""

    value: str | None = None
    error: str | None = None


def validate_input(kind: str, value: Any, locale: str | None = None) -> InputResult:
    """Check a typed answer of ``kind``; phone numbers use the locale's region when national."""
    if not isinstance(value, str) or not value.strip():
        return InputResult(error="Please type an answer.")
    value = value.strip()
    if len(value) > MAX_ANSWER:
        return InputResult(error=f"Please keep your answer under {MAX_ANSWER} characters.")
    if kind == "email":
        try:
            return InputResult(value=validate_email(value, check_deliverability=False).normalized)
        except EmailNotValidError:
            return InputResult(error="That doesn't look like an email address. Please check it.")
    if kind == "phone":
        region = locale.replace("_", "-").split("-")[-1].upper() if locale and "-" in locale.replace("_", "-") else None
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_possible_number(number):
            return InputResult(error="That doesn't look like a phone number. Please include the country code, like +44 20 7946 0958.")
        return InputResult(value=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return InputResult(value=value)

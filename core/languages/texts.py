"""A dialogue's texts in several languages: one text, or a mapping of language to text.

    languages: [en, es]
    cards:
      - id: hi
        type: message
        text: {en: What brings you here?, es: ¿Qué te trae por aquí?}

Card types read a text option with ``CardContext.localise`` (the visitor's language) and check it
with ``check_text``, which names the line of what is wrong: the built-in cards and plugins' alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..problems import MessageAt
from ..yamlfile import line_of
from .locales import language_of, normalise

if TYPE_CHECKING:
    from ..dialogue import Card, Dialogue

MAX_TEXT = 2000


def localise(value: Any, language: str, default_language: str) -> Any:
    """``value`` in ``language``: a plain value as it is; from a mapping of language to value,
    the language's entry, else its language without region (es-MX -> es), else the default
    language's (else the first, for a mapping validation did not see)."""
    if value.__class__ is str or not isinstance(value, Mapping):  # a plain text, the common case, first
        return value
    for key in (language, language_of(language), default_language):
        if key in value:
            return value[key]
    return next(iter(value.values()), None)


def texts(value: Any) -> list[str]:
    """Every text of a text option: the one text, or each language's."""
    found = list(value.values()) if isinstance(value, Mapping) else [value]
    return [text for text in found if isinstance(text, str)]


def check_text(card: Card, key: str, dialogue: Dialogue, required: bool = True, max_length: int = MAX_TEXT,
               every_language: bool = True) -> list[str]:
    """Problems with the text option ``key`` of ``card``: missing (when ``required``), empty, longer
    than ``max_length``, a language the dialogue does not declare or a code that is no locale, and,
    in a dialogue of several languages, a language without its text. ``every_language=False``
    lets one plain text serve every language (a placeholder such as ``you@company.com``)."""
    return check_localised(card.get(key), f"'{key}'", dialogue, card.line_of(key), text_checker(max_length),
                           required=required, every_language=every_language)


def check_localised(value: Any, name: str, dialogue: Dialogue, line: int | None,
                    check_one: Callable[[Any], str | None], required: bool = True,
                    every_language: bool = True) -> list[str]:
    """``check_text`` for any value that may be given per language (a text, a list of texts...):
    ``check_one(value)`` says what is wrong with one language's value (None when nothing is)."""
    if value is None:
        return [MessageAt(f"{name} is required", line)] if required else []
    languages = dialogue.languages
    if not isinstance(value, Mapping):
        if every_language and len(languages) > 1:
            return [MessageAt(f"{name} needs a text for each of the dialogue's languages: "
                              f"{{{', '.join(f'{language}: ...' for language in languages)}}}", line)]
        error = check_one(value)
        return [MessageAt(f"{name} {error}", line)] if error else []
    problems: list[str] = []
    for key, item in value.items():
        at = line_of(value, key) or line
        if key not in languages:
            problems.append(MessageAt(f"{name} {_stranger(key, languages)}", at))
            continue
        error = check_one(item)
        if error:
            problems.append(MessageAt(f"{name} ({key}) {error}", at))
    missing = [language for language in languages if language not in value]
    if missing:
        problems.append(MessageAt(f"{name} has no {' or '.join(missing)} text (the dialogue's languages: "
                                  f"{', '.join(languages)})", getattr(value, "start_line", None) or line))
    return problems


def _stranger(key: Any, languages: tuple[str, ...]) -> str:
    """What is wrong with a mapping key that is not one of the dialogue's languages."""
    normal = normalise(key)
    if normal is None:
        return f"has {key!r}, which is not a locale code (like en, es or pt-BR)"
    if normal in languages:
        return f"has {key!r}: write {normal!r}, as the dialogue's languages do"
    return f"has {normal!r}, which is not one of the dialogue's languages ({', '.join(languages)}); add it to 'languages'"


def text_checker(max_length: int = MAX_TEXT) -> Callable[[Any], str | None]:
    """A ``check_one`` for ``check_localised``: one language's value must be non-empty text of at
    most ``max_length`` characters."""
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return "must be non-empty text"
        if len(value) > max_length:
            return f"is longer than {max_length} characters"
        return None
    return check

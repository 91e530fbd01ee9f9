"""The catalog: the widget's labels and the server's visitor-facing messages, per language.

chinwag ships English, Spanish, French and German (``catalogs/*.yaml`` beside this module;
``en.yaml`` holds every key and says what each is for). A project overrides entries or adds
languages (``chinwag.languages.settings``). A text is looked up in the locale's entries, then its
language's (es-MX -> es), then English's, so a catalog that leaves a key out says it in English.
``{name}`` in a text is filled in where it is used.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .locales import language_of

CATALOG_DIR = Path(__file__).parent / "catalogs"
SHIPPED = ("en", "es", "fr", "de")
BASE = "en"
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
MAX_ENTRY = 500
DATE_FORMAT_KEYS = frozenset({"meeting_date_format"})  # CLDR date patterns, not texts


class Catalog:
    """Every language's entries, shipped and the project's merged; read-only once made."""

    def __init__(self, locales: Mapping[str, Mapping[str, str]]) -> None:
        self._locales = {locale: dict(entries) for locale, entries in locales.items()}
        self._merged: dict[str, dict[str, str]] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        """The locales with entries of their own (shipped or the project's)."""
        return tuple(self._locales)

    def serves(self, locale: str) -> bool:
        """Whether ``locale`` or its language has entries (else it would be said in English)."""
        return locale in self._locales or language_of(locale) in self._locales

    def entries(self, locale: str) -> dict[str, str]:
        """Every key's text for ``locale``: its own, else its language's, else English's."""
        if locale not in self._merged:
            merged: dict[str, str] = {}
            for source in dict.fromkeys((BASE, language_of(locale), locale)):
                merged.update(self._locales.get(source, {}))
            self._merged[locale] = merged
        return self._merged[locale]

    def message(self, locale: str, key: str, **values: Any) -> str:
        """The text of ``key`` in ``locale`` with its ``{name}`` placeholders filled from ``values``."""
        return fill(self.entries(locale)[key], values)

    def with_overrides(self, overrides: Mapping[str, Mapping[str, str]]) -> Catalog:
        """A catalog with ``overrides`` (locale -> key -> text) on top of this one's entries."""
        locales = {locale: dict(entries) for locale, entries in self._locales.items()}
        for locale, entries in overrides.items():
            locales.setdefault(locale, {}).update(entries)
        return Catalog(locales)


def fill(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with each ``{name}`` of ``values`` replaced (other braces are left as they are)."""
    return PLACEHOLDER.sub(lambda match: str(values[match.group(1)]) if match.group(1) in values else match.group(0), text)


def placeholders(text: str) -> set[str]:
    """The ``{name}`` placeholders of a text."""
    return set(PLACEHOLDER.findall(text))


@functools.lru_cache(maxsize=1)
def shipped() -> Catalog:
    """The catalogs chinwag ships, read once."""
    from ..yamlfile import load_yaml

    return Catalog({locale: {str(key): str(text) for key, text in load_yaml(CATALOG_DIR / f"{locale}.yaml").items()}
                    for locale in SHIPPED})


def keys() -> tuple[str, ...]:
    """Every key a catalog may hold (those of the English catalog)."""
    return tuple(shipped().entries(BASE))

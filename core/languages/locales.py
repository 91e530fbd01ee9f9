"""Locale tags: checking what visitors and project files say, and choosing a language.

A tag is BCP 47 as browsers send it: a language, optionally a script and a region (``es``,
``es-MX``, ``es-419``, ``zh-Hant-TW``). chinwag writes it one way (language lower case, script
title case, region upper case) and knows a language, script or region when the Unicode CLDR
(through Babel) does, so ``xx`` or ``en-XX`` is refused where it enters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

TAG = re.compile(r"([A-Za-z]{2,3})(?:[-_]([A-Za-z]{4}))?(?:[-_]([A-Za-z]{2}|[0-9]{3}))?((?:[-_][A-Za-z0-9]{1,8})*)")
MAX_TAG = 35
MAX_PREFERENCES = 8  # tags kept from one Accept-Language header
MAX_ACCEPT_LANGUAGE = 1000  # characters of the header read


def normalise(tag: object) -> str | None:
    """``tag`` written as chinwag writes it (``es_mx`` -> ``es-MX``; variants and extensions left
    out: ``ca-ES-valencia`` -> ``ca-ES``), or None when it is not a language tag whose language,
    script and region the CLDR knows."""
    if not isinstance(tag, str) or len(tag) > MAX_TAG:
        return None
    match = TAG.fullmatch(tag.strip())
    if match is None:
        return None
    language, script, region = match.group(1).lower(), match.group(2), match.group(3)
    script = script.title() if script else None
    region = region.upper() if region else None
    if not _known(language, script, region):
        return None
    return "-".join(part for part in (language, script, region) if part)


@functools.lru_cache(maxsize=512)
def _known(language: str, script: str | None, region: str | None) -> bool:
    from babel import Locale, UnknownLocaleError
    from babel.localedata import exists

    if not exists(language):
        return False
    try:
        english = Locale("en")
    except UnknownLocaleError:  # pragma: no cover - Babel always ships English
        return False
    return (script is None or script in english.scripts) and (region is None or region in english.territories)


def language_of(tag: str) -> str:
    """The language part of a tag (``es-MX`` -> ``es``)."""
    return tag.split("-", 1)[0]


def accept_language(header: str | None) -> list[str]:
    """The known tags of an ``Accept-Language`` header, best first (equal weights in the order
    given); ``*``, ``q=0`` and anything malformed are left out, and at most ``MAX_PREFERENCES`` kept."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:MAX_ACCEPT_LANGUAGE].split(",")[:4 * MAX_PREFERENCES]):
        tag, _, parameters = part.partition(";")
        weight = 1.0
        if parameters.strip():
            name, _, value = parameters.strip().partition("=")
            try:
                weight = float(value) if name.strip().lower() == "q" else -1.0
            except ValueError:
                continue
        normalised = normalise(tag)
        if normalised is not None and 0 < weight <= 1 and normalised not in (known for _, _, known in weighted):
            weighted.append((-weight, index, normalised))
    return [tag for _, _, tag in sorted(weighted)][:MAX_PREFERENCES]


def preferences(hello_locale: object, accept_language_header: str | None) -> tuple[str, ...]:
    """What the visitor reads, best first: the page's ``hello.locale`` (the browser's language),
    then the WebSocket request's ``Accept-Language``."""
    first = normalise(hello_locale)
    rest = [tag for tag in accept_language(accept_language_header) if tag != first]
    return tuple([first, *rest] if first else rest)


def negotiate(wanted: Iterable[str], available: Sequence[str], default: str) -> str:
    """The language of ``available`` to use: for each wanted tag in turn, the same tag, else its
    language alone (es-MX -> es), else the same language in another region (es -> es-ES);
    ``default`` when no wanted tag is served."""
    for tag in wanted:
        if tag in available:
            return tag
        language = language_of(tag)
        if language in available:
            return language
        for offered in available:
            if language_of(offered) == language:
                return offered
    return default


@functools.lru_cache(maxsize=128)
def babel_locale(tag: str) -> Any:
    """Babel's ``Locale`` for ``tag`` (month and day names); its language's when the CLDR has no
    data for that pairing (Spanish as written in France, say), English's at worst."""
    from babel import Locale, UnknownLocaleError

    for candidate in (tag, language_of(tag), "en"):
        try:
            return Locale.parse(candidate, sep="-")
        except (UnknownLocaleError, ValueError):
            continue
    raise AssertionError("Babel has no English")  # pragma: no cover

"""The ``languages:`` section of chinwag.yaml and the project's catalog files.

    languages:
      default: en                  # the language of a dialogue that names none (default en)
      catalog:                     # the widget's labels and the server's messages, per locale
        es: {send: Mandar}         # overrides a shipped entry
        pt-BR: {send: Enviar, ...} # or adds a language (a key left out is said in English)

A project may also keep a language's entries in ``catalogs/<locale>.yaml`` (a mapping of key to
text); ``languages.catalog`` in chinwag.yaml wins over a file for the same key.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..problems import Problem
from ..yamlfile import YamlError, line_of, load_yaml
from .catalog import BASE, DATE_FORMAT_KEYS, MAX_ENTRY, Catalog, placeholders, shipped
from .locales import normalise

SETTINGS = ("default", "catalog")
CATALOG_FOLDER = "catalogs"


@attrs.frozen
class LanguageSettings:
    """Checked language settings (defaults when the section is absent)."""

    default: str = BASE
    catalog: Catalog = attrs.field(factory=shipped)


def parse_settings(section: Any, source: Any, file: str, project_dir: Path) -> tuple[LanguageSettings, list[Problem]]:
    """Read the section (``source`` is it as read from YAML, which knows its lines) and the
    project's ``catalogs/`` folder; return the settings and every problem."""
    problems: list[Problem] = []
    overrides = _catalog_files(project_dir, problems)
    if section is None:
        return LanguageSettings(catalog=shipped().with_overrides(overrides)), problems
    if not isinstance(section, Mapping):
        return LanguageSettings(), [Problem(file, None, "languages", "must be a mapping of settings")]
    for key in sorted(set(section) - set(SETTINGS), key=str):
        problems.append(Problem(file, line_of(source, key), f"languages.{key}", f"unknown setting (known: {', '.join(SETTINGS)})"))
    default = BASE
    if "default" in section:
        default = _locale(section["default"], file, line_of(source, "default"), "languages.default", problems) or BASE
    inline = section.get("catalog") or {}
    node = source.get("catalog") if isinstance(source, Mapping) else None
    if not isinstance(inline, Mapping):
        problems.append(Problem(file, line_of(source, "catalog"), "languages.catalog",
                                "must map locales to mappings of key to text, like {es: {send: Enviar}}"))
        inline = {}
    for raw_locale, entries in inline.items():
        where = f"languages.catalog.{raw_locale}"
        locale = _locale(raw_locale, file, line_of(node, raw_locale), where, problems)
        if locale is not None:
            checked = check_entries(entries, node.get(raw_locale) if isinstance(node, Mapping) else None,
                                    file, line_of(node, raw_locale), where, problems)
            overrides.setdefault(locale, {}).update(checked)
    return LanguageSettings(default, shipped().with_overrides(overrides)), problems


def _catalog_files(project_dir: Path, problems: list[Problem]) -> dict[str, dict[str, str]]:
    """The entries of each ``catalogs/<locale>.yaml`` of the project."""
    found: dict[str, dict[str, str]] = {}
    folder = project_dir / CATALOG_FOLDER
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        locale = _locale(path.stem, str(path), None, "file name", problems)
        try:
            data = load_yaml(path)
        except YamlError as error:
            problems.append(Problem(str(path), error.line, "", error.message))
            continue
        if locale is not None:
            found.setdefault(locale, {}).update(check_entries(data or {}, data, str(path), None, "", problems))
    return found


def _locale(value: Any, file: str, line: int | None, where: str, problems: list[Problem]) -> str | None:
    """A locale code written as chinwag writes it, or None with a problem."""
    normal = normalise(value)
    if normal is None:
        problems.append(Problem(file, line, where, f"{value!r} is not a locale code (like en, es or pt-BR)"))
    elif normal != value:
        problems.append(Problem(file, line, where, f"write {normal!r} instead of {value!r}"))
    else:
        return normal
    return None


def check_entries(entries: Any, node: Any, file: str, line: int | None, where: str,
                  problems: list[Problem]) -> dict[str, str]:
    """The good entries of one language's catalog; a problem, with its line, for each bad one:
    an unknown key, a text that is empty or too long, a ``{name}`` the key does not fill in, a
    date pattern that is not one."""
    known = shipped().entries(BASE)
    if not isinstance(entries, Mapping):
        problems.append(Problem(file, line, where, "must be a mapping of key to text, like {send: Enviar}"))
        return {}
    good: dict[str, str] = {}
    for key, text in entries.items():
        at, place = line_of(node, key) or line, f"{where}.{key}" if where else str(key)
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
            problems.append(Problem(file, at, place, f"unknown key{hint}"))
        elif not isinstance(text, str) or not text.strip():
            problems.append(Problem(file, at, place, "must be non-empty text"))
        elif len(text) > MAX_ENTRY:
            problems.append(Problem(file, at, place, f"is longer than {MAX_ENTRY} characters"))
        elif key in DATE_FORMAT_KEYS:
            error = _date_pattern_problem(text)
            if error:
                problems.append(Problem(file, at, place, error))
            else:
                good[key] = text
        elif placeholders(text) - placeholders(known[key]):
            wanted = ", ".join(f"{{{name}}}" for name in sorted(placeholders(known[key]))) or "none"
            extra = ", ".join(f"{{{name}}}" for name in sorted(placeholders(text) - placeholders(known[key])))
            problems.append(Problem(file, at, place, f"{extra} is not filled in here (this text has: {wanted})"))
        else:
            good[key] = text
    return good


def _date_pattern_problem(pattern: str) -> str | None:
    """What is wrong with a CLDR date pattern (``EEEE d MMMM, HH:mm``), or None."""
    from babel.dates import format_datetime

    try:
        format_datetime(dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc), pattern, locale=BASE)
    except Exception as error:  # Babel raises several kinds for a malformed pattern
        return f"is not a date pattern like 'EEEE d MMMM, HH:mm' ({error})"
    return None

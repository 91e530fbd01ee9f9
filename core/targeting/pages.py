"""Page rules: which pages a dialogue may start on, from include and exclude lists of patterns.

A pattern is one of:

* ``*``: every page.
* a URL: ``https://www.example.com/pricing``, ``https://*.example.com/folder/*``,
  ``www.example.com/blog/*`` (no scheme: http and https both match). ``*`` is a catch-all
  wildcard; ``*.example.com`` matches example.com and every subdomain; ``/folder/*`` matches the
  folder and every page under it. A URL with no path means the home page (``/*`` is the site).
  No port in the pattern means any port.
* a path without a host: ``/pricing``, ``/blog/*``: on any site serving the widget.
* query parameters: ``utm_campaign=spring`` or ``?utm_source=ads&utm_medium=*``: pages whose
  address carries each parameter with that value (``*`` in a value is a wildcard). They may
  follow a URL or a path too: ``/pricing?plan=team``. Other parameters on the page do not matter.

Matching ignores case, a trailing ``/`` and the ``#fragment``; the page's own query parameters
are ignored unless the pattern names some.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

_HOST = re.compile(r"^(\*|(\*\.)?[a-z0-9*]([a-z0-9*-]*[a-z0-9*])?(\.[a-z0-9*]([a-z0-9*-]*[a-z0-9*])?)*)(:(\d{1,5}|\*))?$")
_PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_.\-\[\]]+$")
_HINT = "write a URL (https://www.example.com/folder/*), a path (/folder/*), a parameter (utm_campaign=spring) or *"


class PatternError(ValueError):
    """A page pattern that cannot be read; the message says what is wrong."""


class Glob:
    """A text where ``*`` stands for any run of characters, split once into its fixed parts.

    Matched part by part with ``str.find`` (leftmost first, which is exact for ``*`` alone), so a
    visitor's crafted address can never make it backtrack: the work grows with the text's length
    times the pattern's, never exponentially.
    """

    __slots__ = ("pattern", "_first", "_middle", "_last", "_fixed")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        parts = pattern.split("*")
        self._fixed = len(parts) == 1
        self._first, self._last = parts[0], parts[-1]
        self._middle = tuple(part for part in parts[1:-1] if part)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Glob) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)

    def __repr__(self) -> str:
        return f"Glob({self.pattern!r})"

    def matches(self, text: str) -> bool:
        """Whether ``text`` matches the whole pattern."""
        if self._fixed:
            return text == self.pattern
        first, last = self._first, self._last
        if len(text) < len(first) + len(last) or not text.startswith(first) or not text.endswith(last):
            return False
        position, end = len(first), len(text) - len(last)
        for part in self._middle:
            found = text.find(part, position, end)
            if found < 0:
                return False
            position = found + len(part)
        return True


def glob_match(pattern: str, text: str) -> bool:
    """Whether ``text`` matches ``pattern``, where ``*`` stands for any run of characters."""
    return Glob(pattern).matches(text)


@attrs.frozen
class PagePattern:
    """One compiled page pattern: each part a ``Glob`` (lower case), or None for any.

    ``hosts`` and ``paths`` hold one glob or two (``*.example.com`` also names example.com;
    ``/folder/*`` also names ``/folder``).
    """

    text: str
    scheme: str | None = None
    hosts: tuple[Glob, ...] | None = None
    port: str | None = None  # None or "*": any port
    paths: tuple[Glob, ...] | None = None
    parameters: tuple[tuple[str, Glob], ...] = ()

    def matches(self, page: Page) -> bool:
        """Whether the page is one this pattern names."""
        if self.scheme is not None and page.scheme != self.scheme:
            return False
        if self.hosts is not None and not any(glob.matches(page.host) for glob in self.hosts):
            return False
        if self.port not in (None, "*") and page.port != self.port:
            return False
        if self.paths is not None and not any(glob.matches(page.path) for glob in self.paths):
            return False
        return all(any(value.matches(given) for given in page.parameters.get(name, ())) for name, value in self.parameters)


def _hosts(pattern: str) -> tuple[Glob, ...] | None:
    if pattern == "*":
        return None
    if pattern.startswith("*."):  # the domain itself and every subdomain
        return Glob(pattern[2:]), Glob(pattern)
    return (Glob(pattern),)


def _paths(pattern: str) -> tuple[Glob, ...]:
    pattern = _normal_path(unquote(pattern))
    if pattern.endswith("/*"):  # the folder itself and everything under it
        return Glob(pattern), Glob(pattern[:-2] or "/")
    return (Glob(pattern),)


@attrs.frozen
class Page:
    """A page address split into the parts patterns look at (all lower case)."""

    scheme: str
    host: str
    port: str | None
    path: str
    parameters: dict[str, tuple[str, ...]]

    @classmethod
    def from_url(cls, url: str) -> Page:
        """The parts of ``url``; an address that is not a URL yields an empty host."""
        try:
            parts = urlsplit(url.strip())
            port = str(parts.port) if parts.port else None
        except ValueError:
            return cls("", "", None, "/", {})
        parameters: dict[str, tuple[str, ...]] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            parameters[name.casefold()] = (*parameters.get(name.casefold(), ()), value.casefold())
        return cls(parts.scheme.casefold(), (parts.hostname or "").casefold(), port,
                   _normal_path(unquote(parts.path)), parameters)


def _normal_path(path: str) -> str:
    path = path.casefold() or "/"
    return path.rstrip("/") or "/"


def _parameters(query: str) -> tuple[tuple[str, Glob], ...]:
    parameters = []
    for item in query.split("&"):
        name, equals, value = item.partition("=")
        if not equals or not _PARAMETER_NAME.match(name) or not value:
            raise PatternError(f"{item!r} is not a parameter: write name=value (value * for any)")
        parameters.append((unquote(name).casefold(), Glob(unquote(value).casefold())))
    return tuple(parameters)


def parse_pattern(text: object) -> PagePattern:
    """Compile one pattern; raise ``PatternError`` saying what is wrong with it."""
    if not isinstance(text, str) or not text.strip():
        raise PatternError(f"a page pattern must be a non-empty string: {_HINT}")
    if any(char.isspace() for char in text.strip()):
        raise PatternError(f"{text!r} has a space in it: {_HINT}")
    text = text.strip()
    if text == "*":
        return PagePattern(text)
    rest, _, query = text.partition("?")
    parameters = _parameters(query) if query or text.endswith("?") else ()
    if not rest:  # ?name=value
        return PagePattern(text, parameters=parameters)
    if "=" in rest and "/" not in rest:  # name=value&...
        return PagePattern(text, parameters=_parameters(text))
    if rest.startswith("/"):
        return PagePattern(text, paths=_paths(rest), parameters=parameters)
    scheme = None
    if "://" in rest:
        scheme, _, rest = rest.partition("://")
        scheme = scheme.casefold()
        if scheme not in ("http", "https"):
            raise PatternError(f"{text!r}: the scheme must be http or https (or leave it out for both)")
    host, slash, path = rest.partition("/")
    host = host.casefold()
    name, _, port = host.partition(":")
    if scheme is None and "." not in name and name not in ("localhost", "*"):
        raise PatternError(f"{text!r} is not a page pattern: {_HINT}")
    if not host or not _HOST.match(host) or "**" in host:
        raise PatternError(f"{text!r}: {host or 'nothing'!r} is not a host name: {_HINT}")
    return PagePattern(text, scheme=scheme, hosts=_hosts(name), port=port or None,
                       paths=_paths("/" + path if slash else "/"), parameters=parameters)


@attrs.frozen
class PageRules:
    """A dialogue's include and exclude lists: a page qualifies when it is included (every page,
    when the list is absent) and not excluded."""

    include: tuple[PagePattern, ...] = ()
    exclude: tuple[PagePattern, ...] = ()

    @classmethod
    def parse(cls, include: Sequence[object] = (), exclude: Sequence[object] = ()) -> PageRules:
        """Compile both lists (``PatternError`` on the first bad pattern)."""
        return cls(tuple(map(parse_pattern, include)), tuple(map(parse_pattern, exclude)))

    def allow(self, url: str | Page) -> bool:
        """Whether a dialogue with these rules may start on the page at ``url`` (a URL, or one
        already split with ``Page.from_url``)."""
        page = url if isinstance(url, Page) else Page.from_url(url)
        if self.include and not any(pattern.matches(page) for pattern in self.include):
            return False
        return not any(pattern.matches(page) for pattern in self.exclude)

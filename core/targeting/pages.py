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


@attrs.frozen
class PagePattern:
    """One compiled page pattern."""

    text: str
    scheme: str | None = None  # None: any scheme
    host: re.Pattern[str] | None = None  # None: any host
    port: str | None = None  # None or "*": any port
    path: re.Pattern[str] | None = None  # None: any path
    parameters: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def matches(self, page: Page) -> bool:
        """Whether the page is one this pattern names."""
        if self.scheme is not None and page.scheme != self.scheme:
            return False
        if self.host is not None and not self.host.fullmatch(page.host):
            return False
        if self.port not in (None, "*") and page.port != self.port:
            return False
        if self.path is not None and not self.path.fullmatch(page.path):
            return False
        return all(any(value.fullmatch(given) for given in page.parameters.get(name, ())) for name, value in self.parameters)

    def address_regex(self) -> str:
        """This pattern, parameters aside, as a regular expression over ``Page.address``."""
        scheme = re.escape(self.scheme) if self.scheme is not None else "[^:/]*"
        host = f"(?:{self.host.pattern})" if self.host is not None else "[^:/]*"
        port = re.escape(self.port) if self.port not in (None, "*") else "[0-9]*"
        path = f"(?:{self.path.pattern})" if self.path is not None else ".*"
        return f"{scheme}://{host}:{port}{path}"


@attrs.frozen
class Page:
    """A page address split into the parts patterns look at (all lower case)."""

    scheme: str
    host: str
    port: str | None
    path: str
    parameters: dict[str, tuple[str, ...]]

    @property
    def address(self) -> str:
        """``scheme://host:port/path``, what a list's patterns without parameters are matched
        against at once."""
        return f"{self.scheme}://{self.host}:{self.port or ''}{self.path}"

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


def _glob(text: str, star: str) -> str:
    return "".join(star if char == "*" else re.escape(char) for char in text)


def _path_regex(path: str) -> re.Pattern[str]:
    path = _normal_path(unquote(path))
    if path.endswith("/*"):  # the folder itself and everything under it
        prefix = path[:-2]
        return re.compile(_glob(prefix, ".*") + r"(/.*)?" if prefix else r"/.*")
    return re.compile(_glob(path, ".*"))


def _host_regex(host: str) -> re.Pattern[str]:
    if host == "*":
        return re.compile(r"[^/]*")
    if host.startswith("*."):  # the domain and every subdomain
        return re.compile(r"([a-z0-9-]+\.)*" + _glob(host[2:], r"[a-z0-9.-]*"))
    return re.compile(_glob(host, r"[a-z0-9.-]*"))


def _parameters(query: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    parameters = []
    for item in query.split("&"):
        name, equals, value = item.partition("=")
        if not equals or not _PARAMETER_NAME.match(name) or not value:
            raise PatternError(f"{item!r} is not a parameter: write name=value (value * for any)")
        parameters.append((unquote(name).casefold(), re.compile(_glob(unquote(value).casefold(), ".*"))))
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
        return PagePattern(text, path=_path_regex(rest), parameters=parameters)
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
    return PagePattern(text, scheme=scheme, host=_host_regex(name), port=port or None,
                       path=_path_regex("/" + path if slash else "/"), parameters=parameters)


class _PatternList:
    """Patterns matched together: those without parameters as one regular expression."""

    def __init__(self, patterns: tuple[PagePattern, ...]) -> None:
        plain = [pattern.address_regex() for pattern in patterns if not pattern.parameters]
        self.combined = re.compile("|".join(f"(?:{regex})" for regex in plain)) if plain else None
        self.with_parameters = tuple(pattern for pattern in patterns if pattern.parameters)

    def match(self, page: Page, address: str) -> bool:
        """Whether any pattern matches the page."""
        if self.combined is not None and self.combined.fullmatch(address):
            return True
        return any(pattern.matches(page) for pattern in self.with_parameters)


@attrs.frozen
class PageRules:
    """A dialogue's include and exclude lists: a page qualifies when it is included (every page,
    when the list is absent) and not excluded."""

    include: tuple[PagePattern, ...] = ()
    exclude: tuple[PagePattern, ...] = ()
    _include: _PatternList = attrs.field(init=False, eq=False, repr=False)
    _exclude: _PatternList = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_include", _PatternList(self.include))
        object.__setattr__(self, "_exclude", _PatternList(self.exclude))

    @classmethod
    def parse(cls, include: Sequence[object] = (), exclude: Sequence[object] = ()) -> PageRules:
        """Compile both lists (``PatternError`` on the first bad pattern)."""
        return cls(tuple(map(parse_pattern, include)), tuple(map(parse_pattern, exclude)))

    def allow(self, url: str | Page) -> bool:
        """Whether a dialogue with these rules may start on the page at ``url`` (a URL, or one
        already split with ``Page.from_url``)."""
        page = url if isinstance(url, Page) else Page.from_url(url)
        address = page.address
        if self.include and not self._include.match(page, address):
            return False
        return not self._exclude.match(page, address)

"""The wire protocol (docs/protocol.md): decoding and checking client frames, encoding replies."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from .json_text import dumps

PROTOCOL_VERSION = 1
PROTOCOL_MINOR = 2  # 1.1: behaviour triggers (``trigger``), ``opened``, ``closed`` and ``start``; 1.2: the welcome's language and catalog
MAX_FRAME_BYTES = 16 * 1024
MAX_TRACKING_COOKIES = 5
MAX_NESTING = 32  # objects and arrays inside each other; frames of this protocol need 3
TRACKING_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
START_ATTRIBUTE_NAME = re.compile(r"visit\.[A-Za-z_][A-Za-z0-9_]{0,63}")  # used with fullmatch
# A lone UTF-16 surrogate (JSON allows the escape "\ud800"; no UTF-8 text can carry it).
SURROGATE = re.compile("[\ud800-\udfff]")
# Digits enough for an integer orjson would read as a float (beyond 64 bits).
LONG_NUMBER = re.compile(r"\d{19}")


class FrameError(Exception):
    """A client frame was refused; ``code`` is the stable error code of docs/protocol.md."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@attrs.frozen
class Hello:
    """The first frame of a connection."""

    protocol: int
    visitor: str | None
    session: str | None
    page_url: str
    referrer: str | None = None
    title: str | None = None
    locale: str | None = None
    timezone: str | None = None
    attributes: Mapping[str, Any] = attrs.field(factory=dict)
    tracking: Mapping[str, str] = attrs.field(factory=dict)  # CRM tracking cookies: name -> value
    minor: int = 0  # the minor version the client speaks (1.1 evaluates behaviour triggers)


@attrs.frozen
class Answer:
    """The visitor's answer to the open question."""

    question: str
    value: Any
    # Optional: the zone the visitor chose to see meeting times in (an IANA name; checked by the
    # session, an unknown one is ignored). It becomes the visit's zone from this answer on.
    timezone: str | None = None


@attrs.frozen
class Ping:
    """A keep-alive."""


@attrs.frozen
class Trigger:
    """(1.1) The behaviour trigger of the pending dialogue fired in the page: show it now."""

    dialogue: str


@attrs.frozen
class WindowChange:
    """(1.1) The visitor opened (``opened``) or closed (``closed``) the chat window."""

    name: str


@attrs.frozen
class Start:
    """(1.1) The page asks for a dialogue now (``window.chinwag.start``), whatever targeting says."""

    dialogue: str
    attributes: Mapping[str, Any] = attrs.field(factory=dict)  # visit.* names to plain values


ClientFrame = Hello | Answer | Ping | Trigger | WindowChange | Start


def decode(text: str | bytes) -> ClientFrame:
    """Parse and check one client frame; raise ``FrameError`` with a stable code."""
    # A character is at most 4 bytes in UTF-8: encode only frames that might be over the limit.
    if len(text) > MAX_FRAME_BYTES or (isinstance(text, str) and len(text) > MAX_FRAME_BYTES // 4
                                       and len(text.encode()) > MAX_FRAME_BYTES):
        raise FrameError("too_large", f"frames may be at most {MAX_FRAME_BYTES} bytes")
    data = _plain_frame(text)
    if data is None:  # not a plain frame, or not JSON at all: the careful way, with its exact errors
        data = _parse(text)
        if _may_hide_anything(text):
            check_plain_json(data)
    if not isinstance(data, dict):
        raise FrameError("bad_json", "frame must be a JSON object")
    kind = data.get("type")
    if kind == "hello":
        return _hello(data)
    if kind == "answer":
        question = _field(data, "question", str)
        if "value" not in data:
            raise FrameError("bad_frame", "answer.value is required")
        value = data["value"]
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise FrameError("bad_frame", "answer.value must be a string or a number")
        return Answer(question, value, _field(data, "timezone", str, optional=True))
    if kind == "ping":
        return Ping()
    if kind == "trigger":
        return Trigger(_field(data, "dialogue", str, frame="trigger"))
    if kind in ("opened", "closed"):
        return WindowChange(kind)
    if kind == "start":
        return Start(_field(data, "dialogue", str, frame="start"), _start_attributes(data.get("attributes")))
    raise FrameError("unknown_type", f"unknown frame type {kind!r}" if kind is not None else "frame has no 'type'")


def _plain_frame(text: str | bytes) -> Any | None:
    """A frame read by orjson (several times faster) when its text can hold nothing the careful
    way refuses or reads differently: text (not bytes) without escapes, surrogates, deep nesting
    or integers beyond 64 bits (orjson reads those as floats). orjson refuses NaN, Infinity and
    numbers beyond a float's range itself. None when the careful way must read it."""
    if isinstance(text, bytes) or _may_hide_anything(text) or LONG_NUMBER.search(text) is not None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _parse(text: str | bytes) -> Any:
    """The standard library's reading of a frame, refusing what JSON has not (NaN, Infinity,
    numbers beyond a float's range) and nesting deep enough to exhaust the parser's stack."""
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError):
        raise FrameError("bad_json", "frame is not valid JSON") from None
    except RecursionError:  # nesting deep enough to exhaust the parser's stack
        raise FrameError("bad_json", f"frame nests more than {MAX_NESTING} levels deep") from None


def check_plain_json(data: Any) -> None:
    """Refuse a decoded frame that nests too deeply or holds a string that is not valid Unicode.

    Every string of the frame is checked, keys and unknown fields too, so nothing that reaches the
    session, the database or a reply can carry a lone surrogate (``"\\ud800"``), which no UTF-8
    text can hold. Iterative: a deep frame cannot exhaust the stack here.
    """
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if SURROGATE.search(value):
                raise FrameError("bad_frame", "frame holds a lone surrogate (\\ud800-\\udfff), "
                                               "which is not a Unicode character")
        elif isinstance(value, (dict, list)):
            if depth > MAX_NESTING:
                raise FrameError("bad_json", f"frame nests more than {MAX_NESTING} levels deep")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)


def _not_json(name: str) -> Any:
    """``NaN`` and ``Infinity``, which Python's parser accepts but JSON has not."""
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A JSON number as a float; one too large for a float (``1e999``) is refused, not infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _may_hide_anything(text: str | bytes) -> bool:
    """Whether a frame's text could hold a lone surrogate or deep nesting (cheap scans of the text).

    Text from a WebSocket text frame is valid UTF-8, so a surrogate can come only from a ``\\u``
    escape; bytes are decoded by the JSON parser, which lets surrogates through.
    """
    if isinstance(text, bytes):
        return True
    return "\\u" in text or text.count("{") + text.count("[") > MAX_NESTING or SURROGATE.search(text) is not None


def _field(data: Mapping[str, Any], name: str, kind: type, optional: bool = False, frame: str = "answer") -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        expected = {str: "a string", int: "a whole number", dict: "an object"}[kind]
        raise FrameError("bad_frame", f"{frame}.{name} must be {expected}")
    if kind is str and len(value) > 2048:
        raise FrameError("bad_frame", f"{frame}.{name} is too long")
    return value


def _hello(data: Mapping[str, Any]) -> Hello:
    protocol = _field(data, "protocol", int, frame="hello")
    if protocol != PROTOCOL_VERSION:
        raise FrameError("unsupported_protocol", f"this server speaks protocol {PROTOCOL_VERSION}, not {protocol}")
    page = _field(data, "page", dict, frame="hello")
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(
        isinstance(key, str) and key.startswith("visit.") and isinstance(value, (str, int, float, bool, type(None)))
        for key, value in attributes.items()
    ):
        raise FrameError("bad_frame", "hello.attributes must map visit.* names to plain values")
    tracking = data.get("tracking") or {}
    if not isinstance(tracking, dict) or len(tracking) > MAX_TRACKING_COOKIES or not all(
        isinstance(name, str) and TRACKING_NAME.fullmatch(name) and isinstance(value, str) and 0 < len(value) <= 512
        for name, value in tracking.items()
    ):
        raise FrameError("bad_frame", f"hello.tracking must map at most {MAX_TRACKING_COOKIES} cookie names "
                                      "to values of 1 to 512 characters")
    return Hello(
        protocol=protocol,
        visitor=_field(data, "visitor", str, optional=True, frame="hello"),
        session=_field(data, "session", str, optional=True, frame="hello"),
        page_url=_field(page, "url", str, frame="hello.page"),
        referrer=_field(page, "referrer", str, optional=True, frame="hello.page"),
        title=_field(page, "title", str, optional=True, frame="hello.page"),
        locale=_field(data, "locale", str, optional=True, frame="hello"),
        timezone=_field(data, "timezone", str, optional=True, frame="hello"),
        attributes=attributes,
        tracking=tracking,
        minor=_minor(data),
    )


def _start_attributes(attributes: Any) -> dict[str, Any]:
    """``start.attributes``: optional; ``visit.*`` names (a letter or ``_``, then letters, digits
    and ``_``) to strings, numbers, booleans or null."""
    if attributes is None:
        return {}
    if not isinstance(attributes, dict) or not all(
        isinstance(name, str) and START_ATTRIBUTE_NAME.fullmatch(name)
        and (value is None or isinstance(value, (str, int, float, bool)))
        for name, value in attributes.items()
    ):
        raise FrameError("bad_frame", "start.attributes must map visit.* names (like visit.topic) "
                                      "to strings, numbers, booleans or null")
    return attributes


def _minor(data: Mapping[str, Any]) -> int:
    """The minor version both sides speak: the client's (0 when it sends none), at most ours."""
    minor = data.get("minor", 0)
    if not isinstance(minor, int) or isinstance(minor, bool) or minor < 0:
        raise FrameError("bad_frame", "hello.minor must be a whole number, 0 or more")
    return min(minor, PROTOCOL_MINOR)


def scrub_surrogates(value: Any) -> Any:
    """``value`` (plain JSON data) with every lone surrogate made U+FFFD.

    For state stored before ``decode`` refused surrogates: a lead read this way is written back
    clean with the visitor's next change, and what CRMs are sent is valid UTF-8.
    """
    if isinstance(value, str):
        return SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {scrub_surrogates(key): scrub_surrogates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_surrogates(item) for item in value]
    return value


def encode(frame: Mapping[str, Any]) -> str:
    """A server frame as compact JSON text, always valid UTF-8.

    A lone surrogate that reached stored state before ``decode`` refused them (an old transcript or
    lead) becomes U+FFFD, so such a session is shown again instead of failing at every send.
    """
    text = dumps(frame)  # orjson refuses surrogates: such a frame comes back from the standard library
    return text if text.isascii() else SURROGATE.sub("\ufffd", text)


def error_frame(code: str, message: str) -> dict[str, Any]:
    """An ``error`` frame."""
    return {"type": "error", "code": code, "message": message}

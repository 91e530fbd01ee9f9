"""The wire protocol (docs/protocol.md): decoding and checking client frames, encoding replies."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import attrs

PROTOCOL_VERSION = 1
PROTOCOL_MINOR = 1  # 1.1: behaviour triggers (``trigger``), ``opened`` and ``closed``
MAX_FRAME_BYTES = 16 * 1024
MAX_TRACKING_COOKIES = 5
TRACKING_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


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


ClientFrame = Hello | Answer | Ping | Trigger | WindowChange


def decode(text: str | bytes) -> ClientFrame:
    """Parse and check one client frame; raise ``FrameError`` with a stable code."""
    # A character is at most 4 bytes in UTF-8: encode only frames that might be over the limit.
    if len(text) > MAX_FRAME_BYTES or (isinstance(text, str) and len(text) > MAX_FRAME_BYTES // 4
                                       and len(text.encode()) > MAX_FRAME_BYTES):
        raise FrameError("too_large", f"frames may be at most {MAX_FRAME_BYTES} bytes")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise FrameError("bad_json", "frame is not valid JSON") from None
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
        return Answer(question, value)
    if kind == "ping":
        return Ping()
    if kind == "trigger":
        return Trigger(_field(data, "dialogue", str, frame="trigger"))
    if kind in ("opened", "closed"):
        return WindowChange(kind)
    raise FrameError("unknown_type", f"unknown frame type {kind!r}" if kind is not None else "frame has no 'type'")


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
        isinstance(name, str) and TRACKING_NAME.match(name) and isinstance(value, str) and 0 < len(value) <= 512
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


def _minor(data: Mapping[str, Any]) -> int:
    """The minor version both sides speak: the client's (0 when it sends none), at most ours."""
    minor = data.get("minor", 0)
    if not isinstance(minor, int) or isinstance(minor, bool) or minor < 0:
        raise FrameError("bad_frame", "hello.minor must be a whole number, 0 or more")
    return min(minor, PROTOCOL_MINOR)


def encode(frame: Mapping[str, Any]) -> str:
    """A server frame as compact JSON text."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, default=str)


def error_frame(code: str, message: str) -> dict[str, Any]:
    """An ``error`` frame."""
    return {"type": "error", "code": code, "message": message}

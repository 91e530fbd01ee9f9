"""Signing and verifying webhook deliveries: HMAC-SHA256 over the timestamp and the body.

Every delivery carries ``Chinwag-Signature: t=<unix seconds>,v1=<hex digest>``, where the digest
is ``HMAC-SHA256(secret, "<t>.<body>")``. A receiver recomputes it with the shared secret,
compares in constant time, and refuses a timestamp older than its tolerance (so a captured
delivery cannot be replayed later). Several ``v1=`` values may appear while a secret is rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Chinwag-Signature"
DEFAULT_TOLERANCE = 300  # seconds a signature stays acceptable


class SignatureError(Exception):
    """A delivery whose signature does not verify; the message says why."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Chinwag-Signature`` header value for ``body`` sent at ``timestamp`` (now by default)."""
    moment = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={moment},v1={_digest(secret, moment, body)}"


def verify(secret: str, header: str | None, body: bytes, tolerance: float = DEFAULT_TOLERANCE,
           now: float | None = None) -> int:
    """Check a delivery's signature header against its raw body; return its timestamp.

    Raises ``SignatureError`` when the header is missing or malformed, the timestamp is outside
    ``tolerance`` seconds of ``now``, or no ``v1`` digest matches.
    """
    if not header:
        raise SignatureError(f"no {HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        moment = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError(f"{HEADER} has no timestamp (t=...)") from None
    if not parts.get("v1"):
        raise SignatureError(f"{HEADER} has no v1 signature")
    current = time.time() if now is None else now
    if abs(current - moment) > tolerance:
        raise SignatureError(f"timestamp {moment} is more than {tolerance:g} s from now")
    expected = _digest(secret, moment, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts["v1"]):
        raise SignatureError("signature does not match the body (wrong secret, or the body was changed)")
    return moment


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()

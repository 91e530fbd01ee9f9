"""Unguessable tokens (event keys, session and visitor ids) from the system's random source, read in blocks.

``secrets.token_urlsafe(16)`` asks the kernel for 16 bytes on every call, and the interpreter's
lock is let go for that system call: on a serving process, whose SQLite writer thread waits for
that lock while turns are stored, each event of every turn then cost a switch to that thread and
back. ``token`` reads ``BLOCK_BYTES`` at once from the same source (``os.urandom``) and hands them
out 16 at a time, each byte once, so a token is as unguessable as before and reads the same (22
URL-safe base64 characters). A forked child starts with an empty block: no two processes hand out
the same bytes.
"""

from __future__ import annotations

import binascii
import os
import threading

TOKEN_BYTES = 16  # as ``secrets.token_urlsafe(16)``: 128 bits
BLOCK_BYTES = 4096  # read from the system at once: 256 tokens
# Standard base64 to its URL-safe alphabet (``base64.urlsafe_b64encode``).
_URL_SAFE = bytes.maketrans(b"+/", b"-_")
# 16 bytes are 24 base64 characters, the last two padding ("=="), which token_urlsafe strips.
_TEXT_LENGTH = 22


class RandomBlock:
    """Bytes read from ``os.urandom`` in blocks, each handed out once (thread-safe)."""

    def __init__(self, block_bytes: int = BLOCK_BYTES) -> None:
        self.block_bytes = block_bytes
        self._lock = threading.Lock()
        self._block = b""
        self._at = 0

    def take(self, count: int) -> bytes:
        """``count`` random bytes never handed out before."""
        with self._lock:
            start = self._at
            if start + count > len(self._block):
                self._block, start = os.urandom(max(self.block_bytes, count)), 0
            self._at = start + count
            return self._block[start:start + count]

    def forget(self) -> None:
        """Drop the bytes not handed out yet (in a forked child: the parent hands them out)."""
        self._lock = threading.Lock()
        self._block, self._at = b"", 0


_random = RandomBlock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_random.forget)


def token() -> str:
    """22 URL-safe characters carrying 128 random bits, as ``secrets.token_urlsafe(16)`` gives."""
    raw = binascii.b2a_base64(_random.take(TOKEN_BYTES), newline=False)
    return raw[:_TEXT_LENGTH].translate(_URL_SAFE).decode("ascii")

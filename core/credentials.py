"""Calendar tokens encrypted at rest with Fernet; the key comes only from the environment.

``CHINWAG_SECRET_KEY`` holds one Fernet key, or several separated by commas to rotate keys: the
first one encrypts, every one of them decrypts. To rotate, put a new key first, keep the old
ones after it, and re-encrypt stored tokens with ``rotate`` before dropping the old keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_VARIABLE = "CHINWAG_SECRET_KEY"


class CredentialsKeyMissing(RuntimeError):
    """``CHINWAG_SECRET_KEY`` is not set (or holds no usable key)."""


class CredentialsUnreadable(ValueError):
    """Stored credentials cannot be decrypted with any configured key (wrong key or damaged data)."""


def generate_key() -> str:
    """A new random Fernet key, ready to put in ``CHINWAG_SECRET_KEY``."""
    return Fernet.generate_key().decode("ascii")


class Credentials:
    """Encrypts and decrypts token dicts with the configured keys."""

    def __init__(self, keys: str) -> None:
        """``keys``: one Fernet key or several, comma-separated, newest first."""
        parts = [part.strip() for part in keys.split(",") if part.strip()]
        if not parts:
            raise CredentialsKeyMissing(f"{KEY_VARIABLE} holds no key; create one with: chinwag.credentials.generate_key()")
        try:
            self._fernet = MultiFernet([Fernet(part.encode("ascii")) for part in parts])
        except (ValueError, UnicodeEncodeError) as error:
            raise CredentialsKeyMissing(
                f"{KEY_VARIABLE} must hold Fernet keys (32 url-safe base64-encoded bytes), comma-separated"
            ) from error

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Credentials:
        """Keys from ``CHINWAG_SECRET_KEY``; raise ``CredentialsKeyMissing`` naming it when unset."""
        keys = environ.get(KEY_VARIABLE)
        if not keys:
            raise CredentialsKeyMissing(
                f"{KEY_VARIABLE} is not set: calendar tokens are stored encrypted with it. "
                f"Create a key with: python -c 'from chinwag.credentials import generate_key; print(generate_key())'"
            )
        return cls(keys)

    def encrypt(self, tokens: Mapping[str, Any]) -> str:
        """The tokens as a Fernet token (text), encrypted with the first key."""
        return self._fernet.encrypt(json.dumps(dict(tokens), sort_keys=True).encode("utf-8")).decode("ascii")

    def decrypt(self, stored: str) -> dict[str, Any]:
        """The tokens back from ``encrypt``'s output, trying every configured key."""
        try:
            return json.loads(self._fernet.decrypt(stored.encode("ascii")))
        except (InvalidToken, UnicodeEncodeError) as error:
            raise CredentialsUnreadable(f"stored credentials cannot be decrypted with the keys in {KEY_VARIABLE}") from error

    def rotate(self, stored: str) -> str:
        """``stored`` re-encrypted with the first (newest) key."""
        try:
            return self._fernet.rotate(stored.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError) as error:
            raise CredentialsUnreadable(f"stored credentials cannot be decrypted with the keys in {KEY_VARIABLE}") from error

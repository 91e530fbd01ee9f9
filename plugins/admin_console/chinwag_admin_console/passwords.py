"""Password hashing with Argon2id (argon2-cffi's defaults, RFC 9106's recommended parameters)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # a longer "password" is a denial-of-service attempt on the hasher
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a wrong address costs as long as a wrong
    password (made on first use: a hash takes a moment, too long to spend at import)."""
    return _hasher.hash("an unknown user's password, never matched")


class WeakPassword(ValueError):
    """A password that is too short or too long, with the reason."""


def check_strength(password: str) -> None:
    """Raise ``WeakPassword`` for a password shorter than ``MIN_LENGTH`` or longer than ``MAX_LENGTH``."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    """The Argon2id hash to store for ``password`` (checked for strength first)."""
    check_strength(password)
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (None: an unknown user, always False, same cost)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (rehash at the next sign-in)."""
    return _hasher.check_needs_rehash(stored_hash)

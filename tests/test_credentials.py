"""Calendar tokens at rest: encrypted, readable only with the configured keys, rotatable."""

from __future__ import annotations

import pytest
from chinwag.credentials import (
    KEY_VARIABLE, Credentials, CredentialsKeyMissing, CredentialsUnreadable, generate_key,
)

TOKENS = {"access_token": "ya29.abc", "refresh_token": "1//refresh", "expires_at": 1893456000.0}


def test_tokens_round_trip_and_are_not_stored_in_clear() -> None:
    credentials = Credentials(generate_key())
    stored = credentials.encrypt(TOKENS)
    assert "refresh" not in stored and "ya29" not in stored
    assert credentials.decrypt(stored) == TOKENS


def test_key_comes_from_the_environment() -> None:
    key = generate_key()
    stored = Credentials(key).encrypt(TOKENS)
    assert Credentials.from_environment({KEY_VARIABLE: key}).decrypt(stored) == TOKENS


@pytest.mark.parametrize("environ", [{}, {KEY_VARIABLE: ""}, {KEY_VARIABLE: " , "}])
def test_missing_key_names_the_variable(environ: dict[str, str]) -> None:
    with pytest.raises(CredentialsKeyMissing, match=KEY_VARIABLE):
        Credentials.from_environment(environ)


def test_a_malformed_key_is_refused_clearly() -> None:
    with pytest.raises(CredentialsKeyMissing, match="Fernet keys"):
        Credentials.from_environment({KEY_VARIABLE: "not-a-key"})


def test_another_key_cannot_read_the_tokens() -> None:
    stored = Credentials(generate_key()).encrypt(TOKENS)
    with pytest.raises(CredentialsUnreadable, match=KEY_VARIABLE):
        Credentials(generate_key()).decrypt(stored)


def test_damaged_data_is_unreadable() -> None:
    credentials = Credentials(generate_key())
    stored = credentials.encrypt(TOKENS)
    with pytest.raises(CredentialsUnreadable):
        credentials.decrypt(stored[:-4] + "AAAA")


def test_key_rotation_reads_old_tokens_and_rewrites_them_with_the_new_key() -> None:
    old_key, new_key = generate_key(), generate_key()
    stored_with_old = Credentials(old_key).encrypt(TOKENS)
    rotating = Credentials(f"{new_key},{old_key}")
    assert rotating.decrypt(stored_with_old) == TOKENS
    rewritten = rotating.rotate(stored_with_old)
    assert Credentials(new_key).decrypt(rewritten) == TOKENS  # the old key can now be dropped
    assert Credentials(new_key).decrypt(rotating.encrypt(TOKENS)) == TOKENS  # new writes use the first key
    with pytest.raises(CredentialsUnreadable):
        Credentials(old_key).decrypt(rewritten)

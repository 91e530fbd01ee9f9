"""Signatures: what the connector signs verifies; a changed body, another secret, an old
timestamp or a malformed header does not, and each says why."""

from __future__ import annotations

import pytest
from chinwag_webhook.signature import SignatureError, sign, verify

SECRET = "whsec-test-0123456789abcdef"
BODY = b'{"id":"e_1","type":"chat.goal_reached"}'


def test_a_signature_verifies_and_returns_its_timestamp() -> None:
    header = sign(SECRET, BODY, timestamp=1_800_000_000)
    assert header.startswith("t=1800000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify(SECRET, header, BODY, now=1_800_000_100) == 1_800_000_000


def test_one_of_several_signatures_may_match_while_a_secret_is_rotated() -> None:
    header = sign(SECRET, BODY, timestamp=1_800_000_000)
    rotated = f"{header},v1={sign('the-new-secret-0123456', BODY, timestamp=1_800_000_000).split('v1=')[1]}"
    assert verify("the-new-secret-0123456", rotated, BODY, now=1_800_000_000) == 1_800_000_000


@pytest.mark.parametrize(("secret", "header", "body", "now", "why"), [
    (SECRET, sign(SECRET, BODY, 1_800_000_000), BODY + b" ", 1_800_000_000, "does not match the body"),
    ("another-secret-0123456789", sign(SECRET, BODY, 1_800_000_000), BODY, 1_800_000_000, "does not match the body"),
    (SECRET, sign(SECRET, BODY, 1_800_000_000), BODY, 1_800_000_301, "more than 300 s from now"),
    (SECRET, None, BODY, 1_800_000_000, "no Chinwag-Signature header"),
    (SECRET, "v1=abc", BODY, 1_800_000_000, "no timestamp"),
    (SECRET, "t=1800000000", BODY, 1_800_000_000, "no v1 signature"),
])
def test_a_bad_delivery_is_refused_with_its_reason(secret: str, header: str | None, body: bytes, now: float,
                                                   why: str) -> None:
    with pytest.raises(SignatureError, match=why):
        verify(secret, header, body, now=now)

"""Tokens read in blocks from the system's random source: the same form as ``secrets.token_urlsafe(16)``,
never handed out twice, and not shared with a forked child."""

from __future__ import annotations

import multiprocessing
import re

from chinwag.events import new_event_key
from chinwag.random_ids import RandomBlock, token
from chinwag.session import new_id

URL_SAFE_22 = re.compile(r"[A-Za-z0-9_-]{22}")


def test_a_token_reads_like_token_urlsafe_of_16_bytes() -> None:
    tokens = [token() for _ in range(20_000)]
    assert all(URL_SAFE_22.fullmatch(value) for value in tokens)
    assert len(set(tokens)) == len(tokens)
    assert re.fullmatch(r"e_[A-Za-z0-9_-]{22}", new_event_key())
    assert re.fullmatch(r"s_[A-Za-z0-9_-]{22}", new_id("s"))


def test_each_byte_of_a_block_is_handed_out_once() -> None:
    block = RandomBlock(block_bytes=40)  # not a multiple of 16: the rest of a block is left unused
    pieces = [block.take(16) for _ in range(3_000)]
    assert all(len(piece) == 16 for piece in pieces)
    assert len(set(pieces)) == len(pieces)
    assert len(block.take(100)) == 100  # more than a block at once


def _child_token(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(token())


def test_a_forked_child_does_not_hand_out_the_parents_bytes() -> None:
    token()  # the parent holds a block with bytes left
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_token, args=(queue,))
    child.start()
    from_child = queue.get(timeout=30)
    child.join(30)
    assert from_child != token()

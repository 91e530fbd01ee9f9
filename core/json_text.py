"""Compact JSON text for what chinwag writes on every turn: frames to the socket and JSON columns.

orjson writes it several times faster than the standard library; whatever orjson refuses (a lone
surrogate, an integer beyond 64 bits, a key that is not a string) is written by the standard
library instead, so every value that could be written before still can, the same way. The
standard library stays the reader of stored JSON: orjson would read an integer beyond 64 bits
back as a float.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Datetimes and dataclasses go to ``default`` (``str``), as with ``json.dumps(default=str)``.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any) -> str:
    """``value`` as compact JSON text (no spaces, non-ASCII kept); unknown types as ``str(value)``."""
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError: what orjson does not write, the standard library may
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def dumps_column(value: Any) -> str:
    """``value`` as JSON text for a JSON column: a value JSON cannot hold (a ``set``, a datetime)
    raises ``TypeError``, as ``json.dumps`` does (a stray object there is a bug). What orjson
    refuses is written as SQLAlchemy writes it by default (``json.dumps``: a lone surrogate as its
    ``\\u`` escape, which every database takes)."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value)

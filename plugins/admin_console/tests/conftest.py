"""Headless Chromium (Debian's package) for the console's browser tests, launched by the test
kit as chinwag's own browser tests launch it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chinwag.testing import headless_chromium


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test module."""
    with headless_chromium() as launched:
        yield launched

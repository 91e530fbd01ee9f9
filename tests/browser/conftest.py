"""Headless Chromium (Debian's package) driven by Playwright, against the real chinwag server.

The browser is never downloaded: Playwright launches the system's ``chromium`` (or
``CHINWAG_CHROMIUM``). Without it these tests skip locally and fail in CI (``CI`` set), so a CI
machine without a browser can never pass by skipping them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_kit import PageProblems, branded_project

from chinwag.testing import ServerThread, headless_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (``chinwag.testing.headless_chromium``)."""
    with headless_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """The real server with its demo pages, over the branded quickstart."""
    with ServerThread(branded_project(tmp_path_factory.mktemp("project"))) as running:
        yield running


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (empty localStorage): a new visitor."""
    created = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="Europe/Berlin", locale="en-GB")
    created.set_default_timeout(10_000)
    yield created
    created.close()


@pytest.fixture
def page(context: Any, page_problems: PageProblems) -> Iterator[Any]:
    """A page in the fresh profile; fails the test on any script error or CSP violation."""
    opened = page_problems.watch(context.new_page())
    yield opened
    assert page_problems.errors == []



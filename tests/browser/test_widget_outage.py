"""The widget while the server's database cannot write: the visitor is greeted once it can again,
with no reload (the server answers ``hello`` with ``unavailable`` and a ``retry_after``)."""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from chinwag.testing import ServerProcess

from browser_kit import Widget, branded_project


def wait_for_health(url: str, status: int) -> None:
    for _ in range(300):
        if httpx.get(url + "/healthz", timeout=30).status_code == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"/healthz never answered {status}")


def test_a_visitor_arriving_during_an_outage_is_greeted_when_it_ends(tmp_path: Path, page: Any) -> None:
    project = branded_project(tmp_path / "project")
    with ServerProcess(project, log_path=tmp_path / "server.log", args=("--demo",)) as server:
        _, hard = resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (1, hard))  # no write past byte 1
        try:
            wait_for_health(server.url, 503)
            with page.expect_console_message(lambda message: "chinwag: unavailable" in message.text, timeout=30_000):
                page.goto(server.url + "/")  # the widget's hello cannot be stored: no visitor yet
        finally:
            resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (hard, hard))
        widget = Widget(page)
        expect(widget.launcher).to_be_visible(timeout=30_000)  # it said hello again by itself
        widget.open()
        widget.bot_says("What brings you here today?")
        widget.choose("Just browsing")


def test_a_visitor_over_the_new_chat_limit_is_greeted_once_the_window_passes(tmp_path: Path, page: Any) -> None:
    project = branded_project(tmp_path / "project", limits={"hellos_per_address": {"count": 1, "per_seconds": 3}})
    with ServerProcess(project, log_path=tmp_path / "server.log", args=("--demo",)) as server:
        httpx.get(server.url + "/healthz", timeout=30).raise_for_status()
        page.goto(server.url + "/")  # the one new chat this address may start in the window
        Widget(page).launcher.wait_for(timeout=30_000)
        with page.expect_console_message(lambda message: "chinwag: rate_limited" in message.text, timeout=30_000):
            page.evaluate("localStorage.clear()")  # a new visitor from the same address: a new chat
            page.reload()
        widget = Widget(page)
        expect(widget.launcher).to_be_visible(timeout=30_000)  # it said hello again once the window passed
        widget.open()
        widget.bot_says("What brings you here today?")

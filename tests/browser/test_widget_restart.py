"""The widget when its server process restarts: closed with 1012 ("service restart"), it connects
again at once, without saying it is reconnecting, and the visitor goes on at the same step."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.sync_api import expect

from chinwag.testing import ServerThread

from browser_kit import Widget

STATUSES = """() => {
  const status = document.querySelector("chinwag-widget").shadowRoot.querySelector(".status");
  window.__statuses = [];
  new MutationObserver(() => window.__statuses.push(status.textContent)).observe(
    status, {childList: true, characterData: true, subtree: true});
}"""


def test_a_service_restart_close_reconnects_at_once_and_the_visitor_goes_on(server: ServerThread, page: Any) -> None:
    page.goto(server.url + "/")
    widget = Widget(page)
    widget.open()
    widget.bot_says("What brings you here today?")
    page.evaluate(STATUSES)
    connections = server.asgi.state.connections
    assert len(connections) == 1
    # What a process does when told to stop: every chat socket closed with 1012. This one then
    # serves on (as the process the load balancer sends the visitor to next would).
    left = asyncio.run_coroutine_threadsafe(connections.drain(5), server._loop).result(10)
    connections.draining = False
    assert left == 0
    page.wait_for_function("() => window.__statuses !== undefined", timeout=5_000)
    expect(page.locator("chinwag-widget .choice", has_text="Just browsing")).to_be_visible(timeout=10_000)
    page.wait_for_timeout(1_000)  # the new connection's welcome has redrawn the conversation
    assert len(connections) == 1  # connected again
    widget.choose("Just browsing")
    assert "Reconnecting…" not in page.evaluate("window.__statuses")

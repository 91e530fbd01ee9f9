"""A page's button starts a dialogue with ``window.chinwag.start`` in a real browser, under the demo
site's strict Content-Security-Policy, on a page where no dialogue is targeted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from chinwag.tables import events, sessions
from chinwag.testing import ServerThread, write_project

from browser_kit import Widget

# The demo home page with a "Talk to sales" button; its script is a file of the site, as a strict
# policy (script-src 'self') requires.
BUTTON_PAGE = """{% extends "demo-base.html" %}
{% block content %}
<h1>Plans for every team</h1>
<button id="talk" type="button">Talk to sales</button>
<p id="seen"></p>
<script src="/talk.js"></script>
{% endblock %}
"""

# What a site's own script does: start the dialogue on a click, and follow its events.
TALK_JS = """
var seen = [], listening = false;
document.getElementById("talk").addEventListener("click", function () {
  if (!listening) {
    ["triggered", "engaged", "completed"].forEach(function (name) {
      window.chinwag.on(name, function (detail) {
        seen.push(name + ":" + detail.dialogue.id);
        document.getElementById("seen").textContent = seen.join(" ");
      });
    });
    listening = true;
  }
  window.chinwag.start("flow", {attributes: {"visit.topic": "pricing"}});
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    buttons = [{"label": "Yes", "value": "yes"}, {"label": "No", "value": "no"}]
    project = write_project(tmp_path_factory.mktemp("page-start"), config={
        "name": "Page start", "attributes": [{"name": "visit.topic", "type": "string"}]}, dialogues={
        "flow": {"id": "flow", "name": "Talk to sales", "targeting": {"exclude": ["*"]}, "response_delay": 0, "cards": [
            {"id": "ask", "type": "question", "text": 'Questions about {{visit.topic:"anything"}}?', "buttons": buttons},
            {"id": "bye", "type": "message", "text": "Thanks, we'll call you."},
        ]}})
    (project / "templates").mkdir(exist_ok=True)
    (project / "templates" / "demo.html").write_text(BUTTON_PAGE)
    with ServerThread(project) as running:
        yield running


def stored(server: ServerThread) -> tuple[list[str], list[str]]:
    """The sessions' dialogues, and the names of the stored events."""
    async def read(app: Any) -> tuple[list[str], list[str]]:
        async with app.store.connect() as connection:
            shown = list((await connection.execute(sa.select(sessions.c.dialogue_id))).scalars())
            names = list((await connection.execute(sa.select(events.c.name).order_by(events.c.id))).scalars())
        return shown, names
    return server.call(read)


def test_a_button_on_the_page_starts_the_dialogue_each_time_it_is_clicked(server: ServerThread, page: Any) -> None:
    page.route("**/talk.js", lambda route: route.fulfill(body=TALK_JS, content_type="text/javascript"))
    page.goto(server.url + "/")
    page.wait_for_function("() => window.chinwag && window.chinwag.start")
    widget = Widget(page)
    page.wait_for_timeout(500)  # time for a wrong widget to show itself
    expect(widget.launcher).to_be_hidden()  # no dialogue is targeted here
    assert stored(server) == ([], [])
    page.click("#talk")
    expect(widget.window).to_be_visible()  # the click opens the window on the dialogue
    widget.bot_says("Questions about pricing?")  # the button's attributes reach the cards
    widget.choose("Yes")
    widget.bot_says("Thanks, we'll call you.")
    expect(page.locator("#seen")).to_have_text("triggered:flow engaged:flow completed:flow")
    first = page.evaluate("window.chinwag.session()")
    widget.page.locator("chinwag-widget .close").click()
    expect(widget.window).to_be_hidden()
    # Finished, yet the button starts it again: a new session, and its events once more.
    page.click("#talk")
    expect(widget.window).to_be_visible()
    expect(page.locator("#seen")).to_have_text("triggered:flow engaged:flow completed:flow triggered:flow")
    expect(page.locator("chinwag-widget .choice", has_text="Yes")).to_be_visible()
    assert page.evaluate("window.chinwag.session()") not in (None, first)
    for _ in range(200):  # the second "opened" is stored just after the dialogue's first frames
        shown, names = stored(server)
        if names.count("opened") == 2:
            break
        page.wait_for_timeout(50)
    assert shown == ["flow", "flow"]
    assert names.count("triggered") == 2 and names.count("opened") == 2 and names.count("completed") == 1

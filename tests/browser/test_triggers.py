"""Behaviour triggers in a real browser: the widget evaluates the rules the server sends and shows
the dialogue only once they hold; the server counts it as triggered only then."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from chinwag.tables import events, sessions, visitors
from chinwag.testing import ServerThread, write_project

from browser_kit import Widget

# A long page (the demo site's layout and strict CSP), so there is something to scroll.
TALL_PAGE = """{% extends "demo-base.html" %}
{% block content %}
<h1>A long page</h1>
""" + "\n".join(f"<p>Paragraph {number} of a long article about analytics.</p>" for number in range(300)) + """
{% endblock %}
"""


# The demo pages' frame, with the page telling the widget what it knows about the visit.
BASE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<link rel="stylesheet" href="/demo.css">
<script src="/widget.js" async data-attributes='{"visit.plan": "team", "lead.email": "not@allowed.example"}'></script>
</head><body><main>{% block content %}{% endblock %}</main></body></html>
"""


def dialogue(dialogue_id: str, include: list[str], trigger: dict[str, Any] | None = None, priority: int = 10,
             audience: dict[str, Any] | None = None) -> dict[str, Any]:
    targeting = {"include": include, **({"trigger": trigger} if trigger else {}), **({"audience": audience} if audience else {})}
    return {"id": dialogue_id, "name": dialogue_id.title(), "response_delay": 0, "priority": priority,
            "targeting": targeting,
            "cards": [{"id": "ask", "type": "question", "text": f"{dialogue_id}: can I help?",
                       "buttons": [{"label": "Yes", "value": "yes"}, {"label": "No", "value": "no"}]}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    project = write_project(tmp_path_factory.mktemp("triggers"), config={
        "name": "Triggers", "attributes": [{"name": "visit.plan", "type": "string"}]}, dialogues={
        "member": dialogue("member", ["member=1"], priority=1,
                           audience={"attribute": "visit.plan", "op": "is", "value": "team"}),
        "everyone": dialogue("everyone", ["member=1"], priority=2),
        "scroller": dialogue("scroller", ["/pricing"], {"scroll": 60}),
        "waiter": dialogue("waiter", ["/"], {"time_on_page": 30}),
        "leaver": dialogue("leaver", ["exit=1"], {"exit_intent": True}, priority=1),
    })
    (project / "templates").mkdir(exist_ok=True)
    (project / "templates" / "demo-pricing.html").write_text(TALL_PAGE)
    (project / "templates" / "demo-base.html").write_text(BASE_PAGE)
    with ServerThread(project) as running:
        yield running


def stored(server: ServerThread) -> tuple[int, list[str], list[str]]:
    """Visitors, sessions' dialogues and the names of stored events."""
    async def read(app: Any) -> tuple[int, list[str], list[str]]:
        async with app.store.connect() as connection:
            count = (await connection.execute(sa.select(sa.func.count()).select_from(visitors))).scalar_one()
            shown = list((await connection.execute(sa.select(sessions.c.dialogue_id))).scalars())
            names = list((await connection.execute(sa.select(events.c.name).order_by(events.c.id))).scalars())
        return count, shown, names
    return server.call(read)


def wait_for_hello(server: ServerThread, page: Any, visitors_before: int) -> None:
    """Until the widget has said hello (the server knows one visitor more) and heard back."""
    for _ in range(200):
        if stored(server)[0] > visitors_before and page.evaluate("!!localStorage.getItem('chinwag.visitor')"):
            return
        page.wait_for_timeout(50)
    raise AssertionError("the widget never said hello")


def test_scroll_trigger_shows_the_dialogue_only_after_the_visitor_scrolls(server: ServerThread, page: Any) -> None:
    before, shown_before, _ = stored(server)
    page.goto(server.url + "/pricing")
    wait_for_hello(server, page, before)
    widget = Widget(page)
    page.wait_for_timeout(1000)  # time for a wrong widget to show itself
    expect(widget.launcher).to_be_hidden()
    assert stored(server)[1] == shown_before  # resolved, not shown: no session, nothing counted
    page.evaluate("window.scrollTo(0, document.body.scrollHeight / 3)")  # not yet 60 %
    page.wait_for_timeout(500)
    expect(widget.launcher).to_be_hidden()
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(widget.launcher).to_be_visible()
    widget.open()
    widget.bot_says("scroller: can I help?")
    _, shown, names = stored(server)
    assert shown == [*shown_before, "scroller"] and "triggered" in names


def test_time_on_page_trigger_waits_for_the_time(server: ServerThread, page: Any) -> None:
    page.clock.install()
    before, shown_before, _ = stored(server)
    page.goto(server.url + "/")
    wait_for_hello(server, page, before)
    widget = Widget(page)
    page.clock.run_for(20_000)
    expect(widget.launcher).to_be_hidden()
    assert stored(server)[1] == shown_before
    page.clock.run_for(11_000)
    expect(widget.launcher).to_be_visible()
    assert stored(server)[1] == [*shown_before, "waiter"]


def test_exit_intent_on_desktop_shows_the_dialogue_when_the_pointer_leaves_through_the_top(
        server: ServerThread, page: Any) -> None:
    before, shown_before, _ = stored(server)
    page.goto(server.url + "/?exit=1")
    wait_for_hello(server, page, before)
    widget = Widget(page)
    page.mouse.move(600, 400)
    page.mouse.move(600, 300)  # moving about the page is not leaving it
    page.wait_for_timeout(500)
    expect(widget.launcher).to_be_hidden()
    assert stored(server)[1] == shown_before
    page.mouse.move(600, -20)  # out through the top edge, towards the tabs and the address bar
    expect(widget.launcher).to_be_visible()
    assert stored(server)[1] == [*shown_before, "leaver"]


def test_no_exit_intent_on_a_touch_screen(server: ServerThread, browser: Any) -> None:
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = phone.new_page()
        before, shown_before, _ = stored(server)
        page.goto(server.url + "/?exit=1")
        wait_for_hello(server, page, before)
        page.mouse.move(200, 400)
        page.mouse.move(200, -20)  # what a desktop's exit intent looks like: no such thing on a phone
        page.wait_for_timeout(1000)
        expect(Widget(page).launcher).to_be_hidden()
        assert stored(server)[1] == shown_before
    finally:
        phone.close()


def test_the_page_tells_targeting_what_it_knows_about_the_visit(server: ServerThread, page: Any) -> None:
    page.goto(server.url + "/?member=1")
    widget = Widget(page)
    widget.open()
    widget.bot_says("member: can I help?")  # visit.plan from the script tag's data-attributes

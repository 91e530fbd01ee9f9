"""The console in headless Chromium against a running server: sign in, every page with real data,
an agent connecting a (sandbox) Google calendar by clicking, the queue reordered and a booking that
follows it, a meeting cancelled, CSRF and role refusals, signed-out redirects, visitor markup
shown as text, and no script error or CSP violation on any page, at 1280 px and at 390 px.

Set ``CHINWAG_CONSOLE_SCREENSHOTS`` to a folder to keep a screenshot of each page
(``docs/console.md`` shows them).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chinwag.credentials import generate_key
from chinwag.testing import ScriptedVisitor, ServerThread, write_project
from chinwag_admin_console.users import create_user, invite
from console_support import PASSWORD, book_through_the_chat, console_project
from playwright.sync_api import expect

SHOTS = Path(os.environ["CHINWAG_CONSOLE_SCREENSHOTS"]) if os.environ.get("CHINWAG_CONSOLE_SCREENSHOTS") else None
ALL_DAY = {day: ["00:00-24:00"] for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
MARKUP = '<img src=x onerror="document.title=1"><b>bold</b>'
FEEDBACK = {"id": "feedback", "name": "Feedback", "priority": 1, "targeting": {"include": ["/feedback"]}, "cards": [
    {"id": "say", "type": "capture", "input": "text", "text": "What should we improve?", "field": "lead.note",
     "markup": "allow"},
    {"id": "bye", "type": "end", "text": "Thank you!"}]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def google() -> Iterator[Any]:
    """Google's sandbox on its own port, like the real consent page on accounts.google.com."""
    from chinwag_google_calendar.sandbox import serve_in_thread

    server = serve_in_thread()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, google: Any) -> Iterator[ServerThread]:
    """The quickstart with Ada and Grace on the Google sandbox (not connected: they connect through
    the console) and Linus on the mounted Outlook sandbox (connected at startup), all free all day."""
    os.environ["CHINWAG_SECRET_KEY"] = generate_key()
    port = free_port()
    folder = console_project(tmp_path_factory.mktemp("browser") / "p")
    import yaml

    config = yaml.safe_load((folder / "chinwag.yaml").read_text())
    config["plugins"]["google_calendar"] = google.plugin_config()
    config["public_url"] = f"http://127.0.0.1:{port}"
    config["attributes"].append({"name": "lead.note", "type": "string"})
    for agent in config["agents"]:
        agent.update(availability=ALL_DAY, time_zone="UTC", minimum_notice=0)
    write_project(folder, config, {"feedback": FEEDBACK})
    try:
        with ServerThread(folder, port=port, demo=False) as running:
            running.call(lambda app: create_user(app, "root@example.com", "admin", PASSWORD, "Rita Root"))
            running.call(lambda app: create_user(app, "mia@example.com", "marketer", PASSWORD, "Mia Marketer"))
            yield running
    finally:
        del os.environ["CHINWAG_SECRET_KEY"]


@pytest.fixture
def errors() -> list[str]:
    return []


def open_page(chromium: Any, errors: list[str], width: int = 1280) -> Any:
    """A page in a fresh profile that records script errors and CSP violations."""
    context = chromium.new_context(viewport={"width": width, "height": 900}, locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", lambda message: errors.append(f"console: {message.text} ({message.location.get('url')})")
            if "Content Security Policy" in message.text or (message.type == "error" and not str(
                message.location.get("url", "")).endswith("/favicon.ico")) else None)
    return page


def sign_in(page: Any, server: ServerThread, email: str, target: str = "/-/console/") -> None:
    page.goto(server.url + target)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def shot(page: Any, name: str) -> None:
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_an_agent_connects_their_calendar_by_clicking_and_joins_the_queue(chromium: Any, server: ServerThread,
                                                                         errors: list[str]) -> None:
    token = server.call(lambda app: invite(app, "ada@example.com", "agent", "Ada Lovelace"))
    page = open_page(chromium, errors)
    page.goto(f"{server.url}/-/console/invite/{token}")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Set password and sign in").click()
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()  # an agent lands on their own page
    expect(page.get_by_text("not connected")).to_be_visible()
    shot(page, "agent-not-connected")
    page.get_by_role("button", name="Connect Google calendar").click()
    expect(page.locator("input[name=email]")).to_have_value("ada@example.com")  # the provider's login hint
    page.get_by_role("button", name=re.compile("Allow", re.I)).click()
    expect(page.get_by_role("heading", name="Calendar connected")).to_be_visible()
    page.get_by_role("link", name="Back to your calendar settings").click()  # core's page links the console's
    expect(page.get_by_role("heading", name="Ada Lovelace")).to_be_visible()
    page.goto(f"{server.url}/-/console/agents")  # an agent's queue view is their own page
    expect(page.get_by_text("number 1 in the queue")).to_be_visible()
    expect(page.get_by_role("button", name="Reconnect Google calendar")).to_be_visible()
    # Her schedule, edited by its labels: a wrong block is marked at its field, a right one saved.
    monday = page.get_by_label("Monday", exact=True)
    monday.fill("9 to 5")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("alert")).to_contain_text("The schedule was not saved")
    expect(monday).to_have_attribute("aria-invalid", "true")
    expect(monday).to_have_value("9 to 5")
    refused = [e for e in errors if "status of 400" in e and e.endswith("/agents/ada%40example.com/schedule)")]
    assert len(refused) == 1  # the refusal is a 400, which the browser logs; nothing else went wrong
    errors.remove(refused[0])
    monday.fill("10:00-12:00")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_role("status")).to_contain_text("The schedule was saved")
    expect(monday).to_have_value("10:00-12:00")
    page.get_by_role("button", name="Use chinwag.yaml's schedule").click()
    expect(page.get_by_role("status")).to_contain_text("chinwag.yaml's applies again")
    assert errors == []


def test_consent_from_another_account_is_refused_and_nothing_connects(chromium: Any, server: ServerThread,
                                                                      errors: list[str]) -> None:
    page = open_page(chromium, errors)
    sign_in(page, server, "root@example.com", "/-/console/agents/grace%40example.com")
    page.get_by_role("button", name="Connect Google calendar").click()
    page.locator("input[name=email]").fill("intruder@example.com")
    page.get_by_role("button", name=re.compile("Allow", re.I)).click()
    expect(page.get_by_role("heading", name="Wrong account")).to_be_visible()
    assert [error for error in errors if "status of 403" not in error] == []  # the refusal page is a 403
    errors.clear()
    page.goto(f"{server.url}/-/console/agents/grace%40example.com")
    expect(page.get_by_text("not connected")).to_be_visible()
    assert errors == []


def test_the_admin_reorders_the_queue_and_the_next_booking_follows_it(chromium: Any, server: ServerThread,
                                                                      errors: list[str]) -> None:
    page = open_page(chromium, errors)
    sign_in(page, server, "root@example.com", "/-/console/agents")
    rows = page.locator("table tbody tr")
    expect(rows.nth(0)).to_contain_text("Ada Lovelace")
    expect(rows.nth(2)).to_contain_text("Linus Torvalds")
    for _ in range(2):
        page.get_by_role("button", name="Up Linus Torvalds").click()
        expect(page.get_by_text("The queue order was saved.")).to_be_visible()
    expect(rows.nth(0)).to_contain_text("Linus Torvalds")
    shot(page, "agents")
    confirmation = server.call(lambda app: book_through_the_chat(server, "buyer@client.example", "Bea"))
    assert confirmation.startswith("You're booked with Linus Torvalds"), confirmation  # first in the queue now
    assert errors == []


def test_every_page_renders_real_data_without_script_errors(chromium: Any, server: ServerThread,
                                                           errors: list[str]) -> None:
    async def feedback(app: Any) -> None:
        async with ScriptedVisitor(server, page_url="http://127.0.0.1/feedback") as visitor:
            await visitor.connect()
            await visitor.question()
            await visitor.answer(MARKUP)
            await visitor.until("message")

    server.call(feedback)
    page = open_page(chromium, errors)
    sign_in(page, server, "root@example.com")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator(".cards li", has_text="Meetings").locator(".figure")).to_have_text("1")
    expect(page.locator("img.chart")).to_have_js_property("complete", True)
    assert page.locator("img.chart").evaluate("image => image.naturalWidth") > 0  # the SVG chart loaded
    shot(page, "overview")
    for link, heading, data in (("Dialogues", "Dialogues", "Welcome tour"), ("Meetings", "Meetings", "Bea"),
                                ("Agents & routing", "Agents & routing", "Linus Torvalds"),
                                ("Integrations", "Integrations", "chinwag-admin-console"),
                                ("Users", "Users", "mia@example.com"), ("Audit log", "Audit log", "queue.reordered")):
        page.get_by_role("navigation", name="Console").get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(page.locator("main")).to_contain_text(data)
        shot(page, link.lower().split()[0])
    page.get_by_role("navigation").get_by_role("link", name="Dialogues").click()
    page.get_by_role("link", name="Welcome tour").click()
    expect(page.locator("#card-interest")).to_contain_text("reached 1 · answered 1")
    expect(page.locator("#card-interest .branches")).to_contain_text("“Just browsing” → browsing")
    expect(page.get_by_role("button", name="Unpublish")).to_be_visible()  # an admin publishes, as a marketer does
    shot(page, "dialogue")
    page.goto(f"{server.url}/-/console/dialogues/feedback")
    page.get_by_role("link", name=re.compile("^Read")).first.click()
    expect(page.locator(".transcript .visitor")).to_have_text("Visitor: " + MARKUP)  # as text, not markup
    assert page.locator(".transcript b, .transcript img").count() == 0
    assert page.title() != "1"
    shot(page, "conversation")
    assert errors == []


def test_a_meeting_is_cancelled_from_its_page(chromium: Any, server: ServerThread, errors: list[str]) -> None:
    page = open_page(chromium, errors)
    sign_in(page, server, "root@example.com", "/-/console/meetings")
    page.get_by_role("link", name="Open meeting with Bea").click()
    shot(page, "meeting")
    page.get_by_role("button", name="Cancel this meeting").click()
    expect(page.get_by_text("The meeting was cancelled.")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("cancelled")
    sandbox = server.app.calendar_providers["outlook"].sandbox
    assert all(event.get("isCancelled") or event.get("status") == "cancelled"
               for calendar in sandbox.events.values() for event in calendar.values()) or not any(
        calendar for calendar in sandbox.events.values())
    assert errors == []


async def preview_records(app: Any) -> tuple[str | None, int, int, int]:
    """The newest Welcome tour session: its id, transcript rows, stored events and its visitor's outbox rows."""
    import sqlalchemy as sa
    from chinwag.outbox import outbox
    from chinwag.tables import events, sessions, transcript

    async with app.store.connect() as connection:
        session, visitor = (await connection.execute(
            sa.select(sessions.c.id, sessions.c.visitor_id).where(sessions.c.dialogue_id == "welcome")
            .order_by(sessions.c.created_at.desc()).limit(1))).one()

        async def count(table: Any, where: Any) -> int:
            return int((await connection.execute(sa.select(sa.func.count()).select_from(table).where(where))).scalar())

        # The quickstart's Marketo wants every engagement: a visitor's would be queued (held until
        # their email is known), ordered by the visitor.
        return (session, await count(transcript, transcript.c.session_id == session),
                await count(events, events.c.session_id == session),
                await count(outbox, outbox.c.ordering_key == visitor))


def test_the_widget_preview_runs_the_dialogue_in_the_real_widget(chromium: Any, server: ServerThread,
                                                                 errors: list[str]) -> None:
    page = open_page(chromium, errors)
    # The widget's script is held back until after the click, as on a slow connection: the click
    # waits for the widget instead of being lost.
    held: list[Any] = []
    page.route("**/widget.js", lambda route: held.append(route))
    sign_in(page, server, "mia@example.com", "/-/console/dialogues/welcome/preview")
    page.get_by_role("button", name="Start Welcome tour").click()
    expect(page.get_by_role("button", name="Loading the widget…")).to_be_disabled()
    assert len(held) == 1
    held[0].continue_()
    page.unroute("**/widget.js")
    expect(page.locator("chinwag-widget .bubble.bot", has_text="What brings you here today?")).to_be_visible()
    expect(page.get_by_role("button", name="Start Welcome tour")).to_be_enabled()
    shot(page, "preview")
    page.locator("chinwag-widget").get_by_role("button", name="Just browsing").click()
    expect(page.locator("chinwag-widget .bubble.visitor", has_text="Just browsing")).to_be_visible()
    # The preview is the marketer's own conversation: its transcript is kept, its activity is not
    # (no event for a report, nothing queued for a CRM or a notification).
    session, transcript, activity, queued = server.call(preview_records)
    assert session is not None and transcript >= 2 and (activity, queued) == (0, 0)
    page.goto(f"{server.url}/-/console/appearance")
    expect(page.get_by_role("heading", name="Appearance")).to_be_visible()
    shot(page, "appearance")
    assert errors == []


def test_refusals_csrf_and_signed_out_redirects(chromium: Any, server: ServerThread, errors: list[str]) -> None:
    page = open_page(chromium, errors)
    page.goto(f"{server.url}/-/console/meetings?when=all")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # signed out: to the sign-in page...
    page.get_by_label("Email").fill("mia@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()  # ...and back; a marketer has no meetings
    page.goto(f"{server.url}/-/console/agents/ada%40example.com")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()  # nor agents' settings
    page.goto(f"{server.url}/-/console/account")
    page.locator("form", has=page.get_by_role("button", name="Make a token")).locator("input[name=csrf]").evaluate(
        "field => { field.value = 'forged'; }")
    page.get_by_role("button", name="Make a token").click()
    expect(page.get_by_role("heading", name="Form expired")).to_be_visible()
    agent = open_page(chromium, errors)
    sign_in(agent, server, "ada@example.com", "/-/console/dialogues/welcome")
    expect(agent.get_by_role("heading", name="Not allowed")).to_be_visible()  # an agent cannot reach dialogues
    assert agent.get_by_role("button", name=re.compile("Publish", re.I)).count() == 0
    assert [error for error in errors if "status of 403" not in error] == []  # the refusals are 403 pages


def test_pages_fit_a_phone_and_the_keyboard_reaches_the_content(chromium: Any, server: ServerThread,
                                                                errors: list[str]) -> None:
    page = open_page(chromium, errors, width=390)
    sign_in(page, server, "root@example.com")
    for path in ("/-/console/overview", "/-/console/meetings?when=all", "/-/console/agents", "/-/console/agents/ada%40example.com",
                 "/-/console/dialogues/welcome", "/-/console/integrations", "/-/console/users"):
        page.goto(server.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    page.goto(server.url + "/-/console/overview")
    shot(page, "overview-phone")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")
    assert errors == []

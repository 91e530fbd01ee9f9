"""The widget in a real browser: a visitor chats on the demo site, as a person would."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from chinwag import hookimpl
from chinwag.cards import Outcome, Question
from chinwag.testing import ServerThread, registered_plugin, write_project

from browser_kit import ARTIFACTS, RESPONSE_DELAY, THEME, HostSite, Widget, branded_project

EVENT_NAMES = ("triggered", "engaged", "lead_captured", "goal_reached", "completed", "closed", "meeting_booked")
# Runs before any page script: records every widget event the host page could see, both ways.
RECORD_EVENTS = """
window.__domEvents = []; window.__apiEvents = [];
for (const name of %r) {
  window.addEventListener("chinwag:" + name, (event) => window.__domEvents.push(event.detail));
}
window.addEventListener("chinwag:ready", () => {
  for (const name of %r) window.chinwag.on(name, (detail) => window.__apiEvents.push(detail));
});
""" % (list(EVENT_NAMES), list(EVENT_NAMES))


def test_a_visitor_completes_the_quickstart_by_clicking_and_typing(server: ServerThread, page: Any) -> None:
    page.add_init_script(RECORD_EVENTS)
    page.goto(server.url + "/")
    widget = Widget(page)
    widget.open()
    widget.bot_says("I'm the chinwag demo bot")
    widget.bot_says("What brings you here today?")
    widget.choose("I'd like a demo")
    # Each message waits its response delay behind a typing indicator.
    expect(widget.typing).to_be_visible()
    widget.bot_says("What's your first name?")
    widget.type("Ada")
    widget.visitor_said("Ada")
    widget.bot_says("Thanks Ada. What's your work email?")
    widget.type("ada@example.com", press_enter=False)
    widget.visitor_said("ada@example.com")
    widget.bot_says("How large is your team?")
    widget.choose("11-50")  # a picklist entry
    widget.bot_says("best phone number")
    widget.type("+44 20 7946 0958")
    widget.bot_says("Thanks Ada, we'll be in touch soon!")
    expect(widget.input).to_be_hidden()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-open.png"))

    widget.launcher.click()  # close: the host page hears "closed"
    expect(widget.window).to_be_hidden()
    page.wait_for_function("window.__domEvents.some((e) => e.event === 'closed')")
    events = page.evaluate("window.__domEvents")
    names = [event["event"] for event in events]
    for name in ("triggered", "engaged", "lead_captured", "completed", "closed"):
        assert name in names, names
    session = page.evaluate("window.chinwag.session()")
    assert session
    for event in events:
        assert event["session"] == session
        assert event["dialogue"] == {"id": "welcome", "name": "Welcome tour"}
    assert [event["event"] for event in page.evaluate("window.__apiEvents")] == names


def test_the_conversation_survives_navigation_and_a_reload(server: ServerThread, page: Any) -> None:
    page.goto(server.url + "/")
    widget = Widget(page)
    widget.open()
    widget.choose("I'd like a demo")
    widget.type("Grace")
    widget.bot_says("What's your work email?")

    page.locator("a", has_text="Pricing").first.click()  # another page of the site
    expect(page).to_have_url(server.url + "/pricing")
    for _ in range(2):
        # The window was open, so it is open again, with the transcript and the open question.
        expect(widget.window).to_be_visible()
        widget.visitor_said("Grace")
        widget.bot_says("Thanks Grace. What's your work email?")
        expect(page.locator("chinwag-widget .bubble.bot", has_text="What's your first name?")).to_have_count(1)
        expect(widget.input).to_have_attribute("placeholder", "you@company.com")
        page.reload()

    widget.type("grace@example.com")
    widget.bot_says("How large is your team?")


def test_an_invalid_email_is_refused_with_a_message(server: ServerThread, page: Any) -> None:
    page.goto(server.url + "/")
    widget = Widget(page)
    widget.open()
    widget.choose("I'd like a demo")
    widget.type("Alan")
    widget.bot_says("What's your work email?")

    widget.type("not-an-email")  # caught in the browser, with the server's own words
    expect(widget.error).to_have_text(re.compile("doesn't look like an email address"))
    expect(widget.input).to_have_attribute("aria-invalid", "true")

    widget.type("alan@exa..mple.com")  # passes the browser's simple check; the server refuses it
    expect(widget.error).to_have_text(re.compile("doesn't look like an email address"))
    expect(page.locator("chinwag-widget .bubble.visitor")).to_have_count(2)  # no answer was recorded

    widget.type("alan@example.com")
    widget.visitor_said("alan@example.com")
    expect(widget.error).to_be_hidden()


MARKUP = "<img src=x onerror=\"window.__pwned=1\">"


def test_markup_in_dialogue_and_visitor_text_shows_as_text_and_runs_nothing(
        tmp_path: Path, context: Any, page_problems: Any) -> None:
    dialogue = {
        "id": "markup", "name": "Markup", "cards": [
            {"id": "hello", "type": "message", "text": f"Bold claim: {MARKUP} <b>not bold</b>"},
            {"id": "say", "type": "capture", "input": "text", "text": "Say something", "markup": "allow"},
            {"id": "bye", "type": "end", "text": "Bye"},
        ],
    }
    project = write_project(tmp_path / "markup", config={"name": "Markup", "response_delay": 0},
                            dialogues={"markup": dialogue})
    with ServerThread(project) as markup_server:
        page = page_problems.watch(context.new_page())
        page.goto(markup_server.url + "/")
        widget = Widget(page)
        widget.open()
        widget.bot_says("Say something")
        widget.type("<img src=x onerror=window.__pwned=2><script>window.__pwned=3</script>")
        widget.bot_says("Bye")
        texts = page.locator("chinwag-widget .bubble").evaluate_all("(nodes) => nodes.map((n) => n.lastChild.textContent)")
        assert f"Bold claim: {MARKUP} <b>not bold</b>" in texts
        assert "<img src=x onerror=window.__pwned=2><script>window.__pwned=3</script>" in texts
        assert page.locator("chinwag-widget img:not(.avatar), chinwag-widget b, chinwag-widget script").count() == 0
        page.wait_for_timeout(300)  # an injected image would have failed to load and fired by now
        assert page.evaluate("window.__pwned") is None
    assert page_problems.errors == []


def test_the_theme_colours_font_and_avatar_are_applied(server: ServerThread, page: Any) -> None:
    page.goto(server.url + "/")
    widget = Widget(page)
    widget.open()
    widget.bot_says("What brings you here today?")
    assert widget.style(".launcher", "background-color") == "rgb(10, 125, 85)"      # follows primary
    assert widget.style(".head", "background-color") == "rgb(20, 33, 61)"          # header
    assert widget.style(".bubble.bot", "background-color") == "rgb(230, 242, 236)"  # bot_bubble
    assert widget.style(".cw", "font-family").startswith('"Trebuchet MS"')
    # The demo page styles every button in Comic Sans on yellow: none of it reaches the widget.
    assert "Comic Sans" not in widget.style(".choice", "font-family")
    assert widget.style(".choice", "background-color") == "rgb(255, 255, 255)"
    expect(page.locator("chinwag-widget .label")).to_have_text("Acme Assistant")
    avatar = page.locator("chinwag-widget img.avatar")
    expect(avatar).to_be_visible()
    page.wait_for_function("document.querySelector('chinwag-widget').shadowRoot.querySelector('img.avatar').naturalWidth > 0")
    privacy = page.locator("chinwag-widget .foot a")
    expect(privacy).to_have_attribute("href", "https://acme.example/privacy")


def test_another_origin_works_when_allowed_and_is_refused_when_not(tmp_path: Path, context: Any) -> None:
    with HostSite() as allowed_site, HostSite() as other_site:
        project = branded_project(tmp_path / "origins", allowed_origins=[allowed_site.url])
        with ServerThread(project, demo=False) as chat_server:
            allowed_site.widget_src = other_site.widget_src = chat_server.url + "/widget.js"

            page = context.new_page()
            page.goto(allowed_site.url + "/")
            widget = Widget(page)
            widget.open()
            widget.choose("Just browsing")
            widget.bot_says("enjoy looking around")

            refused = context.new_page()
            warnings: list[str] = []
            refused.on("console", lambda message: warnings.append(message.text))
            refused.goto(other_site.url + "/")
            deadline = time.monotonic() + 5
            while not any("could not connect" in text for text in warnings) and time.monotonic() < deadline:
                refused.wait_for_timeout(100)
            assert any("could not connect" in text for text in warnings), warnings
            assert refused.locator("chinwag-widget .launcher").count() == 0


def test_keyboard_only_completion(server: ServerThread, page: Any) -> None:
    page.goto(server.url + "/")
    widget = Widget(page)
    expect(widget.launcher).to_be_visible()
    for _ in range(30):  # Tab past the page's own links to the launcher
        page.keyboard.press("Tab")
        if widget.launcher.evaluate("(node) => node.getRootNode().activeElement === node"):
            break
    else:
        pytest.fail("Tab never reached the launcher")
    assert widget.style(".launcher", "outline-style") == "solid"  # a visible focus ring
    page.keyboard.press("Enter")
    expect(widget.window).to_be_visible()
    focused = page.locator("chinwag-widget .choice:focus")
    expect(focused).to_have_text("I'd like a demo")  # focus went to the first answer
    page.keyboard.press("Enter")
    expect(widget.input).to_be_focused()
    page.keyboard.type("Ada")
    page.keyboard.press("Enter")
    widget.bot_says("What's your work email?")
    expect(widget.input).to_be_focused()
    page.keyboard.type("ada@example.com")
    page.keyboard.press("Enter")
    widget.bot_says("How large is your team?")
    expect(widget.input).to_be_focused()
    page.keyboard.type("1-10")
    page.keyboard.press("Enter")
    widget.bot_says("best phone number")
    expect(widget.input).to_be_focused()
    page.keyboard.type("+1 415 555 2671")
    page.keyboard.press("Enter")
    widget.bot_says("we'll be in touch soon")
    page.keyboard.press("Escape")
    expect(widget.window).to_be_hidden()
    assert widget.launcher.evaluate("(node) => node.getRootNode().activeElement === node")


def test_usable_on_a_360_px_screen(server: ServerThread, browser: Any, page_problems: Any) -> None:
    phone = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = page_problems.watch(phone.new_page())
        page.goto(server.url + "/")
        widget = Widget(page)
        widget.open()
        widget.choose("I'd like a demo")
        widget.bot_says("What's your first name?")
        box = widget.window.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360
        input_box = widget.input.bounding_box()
        assert input_box["x"] >= 0 and input_box["x"] + input_box["width"] <= 360
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-open-360.png"))
    finally:
        phone.close()
    assert page_problems.errors == []


def test_the_poke_shows_the_first_question_and_opens_the_chat(server: ServerThread, page: Any) -> None:
    page.goto(server.url + "/")
    widget = Widget(page)
    expect(widget.poke).to_be_visible()
    expect(widget.poke).to_contain_text("What brings you here today?")
    expect(page.locator("chinwag-widget .badge")).to_have_text("2")
    page.locator("chinwag-widget .poke-text").click()
    expect(widget.window).to_be_visible()
    expect(widget.poke).to_be_hidden()


def test_no_poke_on_mobile_when_switched_off(tmp_path: Path, browser: Any) -> None:
    project = branded_project(tmp_path / "nopoke", plugins={"widget_theme": {**THEME, "poke_mobile": False}})
    with ServerThread(project) as quiet_server:
        phone = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
        try:
            page = phone.new_page()
            page.goto(quiet_server.url + "/")
            widget = Widget(page)
            expect(page.locator("chinwag-widget .badge")).to_have_text("2")  # the question has arrived
            expect(widget.poke).to_be_hidden()
        finally:
            phone.close()


def test_a_dropped_connection_reconnects_and_resumes(tmp_path: Path, page: Any) -> None:
    project = branded_project(tmp_path / "restart")
    first = ServerThread(project).start()
    port = first.port
    page.goto(first.url + "/")
    widget = Widget(page)
    widget.open()
    widget.choose("I'd like a demo")
    widget.bot_says("What's your first name?")
    first.stop()  # the server goes away: the widget keeps trying with backoff
    expect(page.locator("chinwag-widget .status")).to_have_text("Reconnecting…")
    with ServerThread(project, port=port):
        expect(page.locator("chinwag-widget .status")).to_have_text("", timeout=15_000)
        widget.type("Ada")
        widget.bot_says("What's your work email?")
        expect(page.locator("chinwag-widget .bubble.bot", has_text="What's your first name?")).to_have_count(1)


def test_the_typing_delay_is_honoured(server: ServerThread, page: Any) -> None:
    page.goto(server.url + "/")
    widget = Widget(page)
    widget.open()
    widget.bot_says("What brings you here today?")
    started = time.monotonic()
    widget.choose("I'd like a demo")
    widget.bot_says("What's your first name?")
    assert time.monotonic() - started >= RESPONSE_DELAY * 0.9


# Meeting slots in UTC; the picker shows them in the question's time zone (Berlin: UTC+1 in March).
SLOTS = [
    {"id": "a", "start": "2030-03-04T09:00:00Z", "end": "2030-03-04T09:30:00Z"},
    {"id": "b", "start": "2030-03-04T09:30:00Z", "end": "2030-03-04T10:00:00Z"},
    {"id": "c", "start": "2030-03-05T13:00:00Z", "end": "2030-03-05T13:30:00Z"},
]


class SlotsCard:
    """A stand-in for the meeting card: asks for one of ``SLOTS``."""

    name = "pick_time"

    def check(self, card: Any, dialogue: Any, attributes: Any) -> list[str]:
        return []

    def enter(self, card: Any, context: Any) -> Outcome:
        return Outcome(ask=Question("slots", card.get("text"), {"slots": SLOTS, "timezone": "Europe/Berlin", "duration": 30}))

    def receive(self, card: Any, context: Any, value: Any) -> Outcome:
        if value not in {slot["id"] for slot in SLOTS}:
            return Outcome(invalid="Please pick one of the times.")
        return Outcome(answer=value, answer_text=f"Booked slot {value}")

    def targets(self, card: Any) -> list[str | None]:
        return [None]


class SlotsPlugin:
    @hookimpl
    def register_cards(self, register: Any) -> None:
        register(SlotsCard())


def test_the_slot_picker_shows_times_by_day_in_the_zone_and_answers_with_the_slot(
        tmp_path: Path, page: Any) -> None:
    dialogue = {"id": "meet", "name": "Meet", "cards": [
        {"id": "when", "type": "pick_time", "text": "When suits you?"},
        {"id": "bye", "type": "end", "text": "See you then"},
    ]}
    project = write_project(tmp_path / "slots", config={"name": "Slots", "response_delay": 0},
                            dialogues={"meet": dialogue})
    with registered_plugin(SlotsPlugin(), "test-slots"), ServerThread(project) as slots_server:
        page.goto(slots_server.url + "/")
        widget = Widget(page)
        widget.open()
        widget.bot_says("When suits you?")
        picker = page.locator("chinwag-widget .slots")
        days, times = picker.locator(".day"), picker.locator(".time")
        # A week from the first day with times; the days without any cannot be chosen.
        expect(days).to_have_text(["Mon4", "Tue5", "Wed6", "Thu7", "Fri8", "Sat9", "Sun10"])
        expect(picker.locator(".day:enabled")).to_have_count(2)
        expect(days.first).to_have_attribute("aria-pressed", "true")
        expect(picker.locator(".month")).to_contain_text("March 2030")
        expect(times).to_have_text(["10:00", "10:30"])
        expect(picker.locator(".part")).to_have_text(["Morning"])
        expect(picker.locator(".who")).to_contain_text("30 min")
        expect(picker.locator(".tz select")).to_have_value("Europe/Berlin")
        days.nth(1).click()
        expect(times).to_have_text(["14:00"])
        expect(picker.locator(".part")).to_have_text(["Afternoon"])
        times.first.click()
        widget.visitor_said("Booked slot c")
        widget.bot_says("See you then")
        expect(page.locator("chinwag-widget .slots")).to_have_count(0)


class CookieCrm:
    """A CRM connector that knows one visitor by their tracking cookie (and records what it was asked)."""

    name = "cookie-crm"
    batch_size = 100
    event_types: frozenset[str] = frozenset()  # nothing to write back
    tracking_cookie = "_mkto_trk"
    asked: list[str] = []

    async def find_lead(self, *, email: str | None = None, tracking_cookie: str | None = None) -> Any:
        from chinwag.crm import LeadRecord

        if tracking_cookie is None:
            return None
        CookieCrm.asked.append(tracking_cookie)
        return LeadRecord("L7", "grace@navy.example", {"firstName": "Grace"}) if "known" in tracking_cookie else None


class CookieCrmPlugin:
    @staticmethod
    @hookimpl
    def register_crm_connectors(register: Any) -> None:
        register(CookieCrm())


def test_the_widget_passes_the_crm_tracking_cookie_and_a_known_visitor_is_greeted(tmp_path: Path, context: Any) -> None:
    greeting = {"id": "hi", "name": "Hi", "cards": [
        {"id": "hello", "type": "message", "text": 'Hello {{person.firstName:"there"}}!'},
        {"id": "q", "type": "capture", "text": "How can we help?", "field": "lead.interest"}]}
    project = write_project(tmp_path / "p", {"name": "cookies", "response_delay": RESPONSE_DELAY,
                                             "attributes": [{"name": "lead.interest"}]}, {"hi": greeting})
    CookieCrm.asked.clear()
    with registered_plugin(CookieCrmPlugin, "cookie-crm"), ServerThread(project) as server:
        context.add_cookies([{"name": "_mkto_trk", "value": "id:123-ABC-456&token:_mch-known-1", "url": server.url}])
        page = context.new_page()
        page.goto(server.url + "/")
        widget = Widget(page)
        widget.open()
        widget.bot_says("Hello Grace!")
    assert CookieCrm.asked == ["id:123-ABC-456&token:_mch-known-1"]


def test_the_demo_known_visitor_is_greeted_by_name(tmp_path: Path, context: Any) -> None:
    from chinwag.testing import free_port

    port = free_port()
    project = branded_project(tmp_path / "demo", public_url=f"http://127.0.0.1:{port}")
    with ServerThread(project, port=port) as server:
        page = context.new_page()
        page.goto(server.url + "/-/sandbox/marketo/known-visitor")  # sets Ada's Munchkin cookie, back to /
        assert page.url == server.url + "/"
        widget = Widget(page)
        widget.open()
        widget.bot_says("Welcome back, Ada from Analytical Engines!")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-known-visitor.png"))

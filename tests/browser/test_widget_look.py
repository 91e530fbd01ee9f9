"""How the widget looks and behaves beside the commercial chat widgets, in headless Chromium.

The quickstart dialogue is walked to a booked meeting at 1280 px and at 390 px; at each step a
screenshot is taken (``docs/screenshots/``, shown in docs/widget.md) and the layout rules are
checked: the window inside the screen and, on a desktop, no taller than its content; nothing
scrolling sideways, the meeting picker included; axe-core finding nothing inside the widget.
Then: booking by keyboard alone through the picker, with its calendar file; the teaser and the
launcher clear of a phone page's content and of its cookie banner; the focus held while the window
covers a phone's screen; the contrast of the focus ring and of the text field's edge; the dark
preset; reduced motion.

``CHINWAG_UPDATE_SCREENSHOTS=1`` writes the screenshots into docs/ instead of test-artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from chinwag.testing import ServerThread, free_port

from browser_kit import ARTIFACTS, THEME, HostSite, PageProblems, Widget, axe_violations, branded_project, contrast_of, settle

DOCS = Path(__file__).resolve().parents[2] / "docs"
SHOTS = DOCS / "screenshots" if os.environ.get("CHINWAG_UPDATE_SCREENSHOTS") else ARTIFACTS / "screenshots"
STEPS = ("teaser", "greeting", "email", "team", "picker", "booked")
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 1}
PORTRAIT = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" fill="{}"/>'
            '<circle cx="32" cy="26" r="12" fill="#fff"/><path d="M8 64c2-13 12-19 24-19s22 6 24 19z" fill="#fff"/></svg>')
AGENTS = {"ada@example.com": "#f4a261", "grace@example.com": "#2a9d8f", "linus@example.com": "#8d99ae"}
SUBTITLE = "We usually reply in a few minutes"


# A phone landing page whose last line sits just above the launcher's row (where the old teaser
# sat, over it): the teaser and the launcher must cover none of it. The second page has a cookie
# banner along the bottom and its content ends above it; the launcher is lifted clear of the
# banner (data-bottom-offset).
SHORT_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Landing page</title>
<style>body{margin:0;font:16px/1.5 Georgia,serif}header{height:48px;padding:12px 16px;box-sizing:border-box}
main{display:flex;flex-direction:column;justify-content:space-between;box-sizing:border-box;padding:0 16px;
min-height:calc(100vh - 150px)}.banner main{min-height:calc(100vh - 232px)}h1,p{margin:0}
#cookies{position:fixed;left:0;right:0;bottom:0;height:72px;padding:12px 16px;background:#222;color:#fff}</style>
<script src="{widget_src}" async EXTRA></script></head>
<body class="KIND"><header><b>Acme Analytics</b> <a href="/">Home</a></header>
<main><h1>Dashboards for everyone</h1><p>Connect your data and share live charts with the team.</p>
<p><a href="/pricing">See pricing</a> or read what our customers say about us.</p></main>BANNER</body></html>"""
BANNER = '<div id="cookies" role="region" aria-label="Cookies">We use cookies. <button>OK</button></div>'
PHONE_PAGES = {"/short": SHORT_PAGE.replace("EXTRA", "").replace("KIND", "short").replace("BANNER", ""),
               "/banner": SHORT_PAGE.replace("EXTRA", 'data-bottom-offset="84"').replace("KIND", "banner")
               .replace("BANNER", BANNER)}


def look_server(path: Path, site: HostSite | None = None, **theme: Any) -> ServerThread:
    """The branded quickstart (sandbox calendars) with the agents' photos and a subtitle; ``site``
    may embed it too."""
    port = free_port()
    photos = {email: email.split("@")[0] + ".svg" for email in AGENTS}
    project = branded_project(path, public_url=f"http://127.0.0.1:{port}", allowed_origins=[site.url] if site else [],
                              response_delay=0.15,  # the typing indicator still shows, the steps go quicker
                              plugins={"google_calendar": {"sandbox": True}, "outlook": {"sandbox": True},
                                       "widget_theme": {**THEME, "subtitle": SUBTITLE, "agent_photos": photos, **theme}})
    for email, colour in AGENTS.items():
        (project / photos[email]).write_text(PORTRAIT.format(colour))
    if site:
        site.widget_src = f"http://127.0.0.1:{port}/widget.js"
    return ServerThread(project, port=port)


@pytest.fixture(scope="module")
def phone_site() -> Iterator[HostSite]:
    """Pages of a customer's site on another loopback origin (a route's page could not reach loopback)."""
    with HostSite(PHONE_PAGES) as site:
        yield site


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, phone_site: HostSite) -> Iterator[ServerThread]:
    with look_server(tmp_path_factory.mktemp("look"), phone_site) as running:
        yield running


def visitor(browser: Any, problems: PageProblems, reduced_motion: str = "no-preference", **device: Any) -> Any:
    """A new visitor's page in Berlin, on a desktop unless ``device`` says otherwise."""
    context = browser.new_context(**(device or DESKTOP), timezone_id="Europe/Berlin", locale="en-GB",
                                  reduced_motion=reduced_motion)
    context.set_default_timeout(15_000)
    return problems.watch(context.new_page())


def shot(page: Any, width: int, step: str) -> None:
    """The screenshot of a step: on a desktop the widget's corner of the page, on a phone the screen.

    For docs/, pngquant (Debian's ``pngquant``), when installed, makes each a small palette PNG.
    """
    SHOTS.mkdir(parents=True, exist_ok=True)
    settle(page)
    clip = {"x": 1280 - 440, "y": 0, "width": 440, "height": 800} if width > 480 else None
    path = SHOTS / f"widget-{width}-{step}.png"
    page.screenshot(path=str(path), clip=clip)
    if SHOTS.is_relative_to(DOCS) and shutil.which("pngquant"):
        subprocess.run(["pngquant", "--quality", "70-90", "--speed", "1", "--force", "--output", str(path), str(path)],
                       check=True)


def box(locator: Any) -> dict[str, float]:
    """Where the element is on the screen (it must be shown)."""
    found = locator.bounding_box()
    assert found is not None, locator
    return found


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether two boxes share any area."""
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def check_layout(page: Any, widget: Widget, width: int, axe: bool = True) -> None:
    """The layout rules every open step keeps (axe-core's checks too, unless ``axe`` is off: a
    phone's steps that differ from a desktop's only in width are checked once, on the desktop)."""
    height = page.viewport_size["height"]
    window = box(widget.window)
    assert window["x"] >= 0 and window["x"] + window["width"] <= width and window["y"] >= 0
    assert window["y"] + window["height"] <= height
    sizes = page.locator("chinwag-widget .log").evaluate("""(log) => {
        const top = log.getBoundingClientRect().top - log.scrollTop;
        const bottoms = [...log.children].map((c) => c.getBoundingClientRect()).filter((r) => r.height).map((r) => r.bottom);
        return {content: Math.max(...bottoms) - top + parseFloat(getComputedStyle(log).paddingBottom),
                client: log.clientHeight, wide: log.scrollWidth - log.clientWidth,
                window: log.parentNode.scrollWidth - log.parentNode.clientWidth};
    }""")
    assert sizes["wide"] <= 0 and sizes["window"] <= 0, sizes  # nothing scrolls sideways
    if width > 480:  # on a desktop the window follows its content: no empty area below a short chat
        assert sizes["client"] <= max(sizes["content"], 96) + 2, sizes
    picker = page.locator("chinwag-widget .slots")
    if picker.count():
        assert picker.evaluate("(node) => node.scrollWidth <= node.clientWidth"), "the picker scrolls sideways"
        assert box(picker)["x"] >= window["x"] and box(picker)["x"] + box(picker)["width"] <= window["x"] + window["width"]
    if axe:
        assert axe_violations(page) == []


@pytest.mark.parametrize("width", [1280, 390])
def test_each_step_of_the_quickstart_keeps_the_layout_rules(server: ServerThread, browser: Any, width: int) -> None:
    problems = PageProblems()
    page = visitor(browser, problems, **(PHONE if width < 480 else DESKTOP))
    page.goto(server.url + "/")
    widget = Widget(page)
    expect(widget.poke).to_contain_text("What brings you here today?")
    shot(page, width, "teaser")
    assert axe_violations(page) == []

    widget.open()
    widget.bot_says("What brings you here today?")
    expect(page.locator("chinwag-widget .head .sub")).to_have_text(SUBTITLE)
    expect(page.locator("chinwag-widget .head .agents img")).to_have_count(3)  # this dialogue books meetings
    expect(page.locator("chinwag-widget .group.bot .face").first).to_be_visible()  # the bot's face on its first group
    expect(page.locator("chinwag-widget .foot")).to_have_text("Privacy policy")  # no "powered by" unless asked for
    shot(page, width, "greeting")
    check_layout(page, widget, width, axe=width > 480)
    if width > 480:
        assert box(widget.window)["height"] < 500  # a short chat, a short window

    widget.choose("Book a meeting")
    widget.bot_says("What's your first name?")
    widget.type("Ada")
    widget.bot_says("What's your work email?")
    shot(page, width, "email")
    check_layout(page, widget, width, axe=width > 480)
    widget.type(f"ada{width}@client.example")
    widget.bot_says("How large is your team?")
    shot(page, width, "team")
    check_layout(page, widget, width, axe=width > 480)

    widget.choose("11-50")
    picker = page.locator("chinwag-widget .slots")
    expect(picker.locator(".time").first).to_be_visible()
    expect(picker.locator(".tz select")).to_have_value("Europe/Berlin")
    expect(picker.locator(".day[aria-pressed=true]")).to_have_count(1)
    expect(picker.locator(".who .agents img")).to_have_count(3)  # the queue decides at booking: the team
    shot(page, width, "picker")
    check_layout(page, widget, width)

    if width < 480:  # in New York the same times read six hours earlier, and the answer says so
        berlin = picker.locator(".time").first.text_content()
        picker.locator(".tz select").select_option("America/New_York")
        new_york = picker.locator(".time").first.text_content()
        hours = (int(berlin.split(":")[0]) - int(new_york.split(":")[0])) % 24
        assert hours == 6, (berlin, new_york)
    chosen = picker.locator(".time").first.text_content()
    picker.locator(".time").first.click()
    zone = "(America/New_York)" if width < 480 else "(Europe/Berlin)"
    expect(page.locator("chinwag-widget .bubble.visitor").last).to_contain_text(zone)
    expect(page.locator("chinwag-widget .bubble.visitor").last).to_contain_text(chosen)
    card = page.locator("chinwag-widget .meeting")
    expect(card).to_contain_text("Meeting booked")
    expect(card).to_contain_text(chosen + " – ")
    widget.bot_says("we'll be in touch soon")
    expect(page.locator("chinwag-widget .end")).to_contain_text("This conversation has ended.")
    shot(page, width, "booked")
    check_layout(page, widget, width)

    first = page.evaluate("window.chinwag.session()")
    page.locator("chinwag-widget .again").click()  # start over: a new session of the same dialogue
    widget.bot_says("What brings you here today?")
    expect(page.locator("chinwag-widget .meeting")).to_have_count(0)
    assert page.evaluate("window.chinwag.session()") not in (None, first)
    page.context.close()
    assert problems.errors == []


def test_the_screenshots_are_in_the_widget_docs() -> None:
    docs = (DOCS / "widget.md").read_text()
    names = [f"screenshots/widget-{width}-{step}.png" for width in (1280, 390) for step in STEPS]
    for name in [*names, "screenshots/widget-1280-dark.png"]:
        assert name in docs and (DOCS / name).stat().st_size < 80_000, name


def test_a_meeting_is_booked_by_keyboard_alone_and_goes_into_the_visitors_calendar(
        server: ServerThread, browser: Any) -> None:
    problems = PageProblems()
    page = visitor(browser, problems)
    page.goto(server.url + "/")
    widget = Widget(page)
    expect(widget.launcher).to_be_visible()
    focused = "(node) => node.getRootNode().activeElement === node"
    for _ in range(30):  # Tab past the page's links to the launcher
        page.keyboard.press("Tab")
        if widget.launcher.evaluate(focused):
            break
    page.keyboard.press("Enter")
    expect(page.locator("chinwag-widget .choice:focus")).to_have_text("I'd like a demo")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.locator("chinwag-widget .choice:focus")).to_have_text("Book a meeting")
    page.keyboard.press("Enter")
    for question, text in (("first name", "Grace"), ("work email", "grace@client.example"), ("team", "1-10")):
        widget.bot_says(question)
        expect(widget.input).to_be_enabled()
        expect(widget.input).to_be_focused()
        page.keyboard.type(text)
        page.keyboard.press("Enter")

    picker = page.locator("chinwag-widget .slots")
    day = picker.locator(".day:focus")
    expect(day).to_have_attribute("aria-pressed", "true")  # the focus waits on the first day with times
    assert picker.locator(".days").evaluate("(days) => days.querySelectorAll('[tabindex=\"0\"]').length") == 1
    first_day, first_times = day.get_attribute("aria-label"), picker.locator(".time").all_text_contents()
    page.keyboard.press("ArrowRight")  # the next day with times is chosen as the focus moves to it
    expect(picker.locator(".day:focus")).not_to_have_attribute("aria-label", first_day)
    expect(picker.locator(".day:focus")).to_have_attribute("aria-pressed", "true")
    assert picker.locator(".time").all_text_contents() != first_times
    page.keyboard.press("Tab")  # one Tab stop for all the times
    expect(picker.locator(".time:focus")).to_have_count(1)
    assert picker.locator(".time:focus").evaluate("(node) => getComputedStyle(node).outlineStyle") == "solid"
    page.keyboard.press("ArrowRight")
    chosen = picker.locator(".time:focus").text_content()
    assert chosen == picker.locator(".time").nth(1).text_content()
    page.keyboard.press("Enter")

    card = page.locator("chinwag-widget .meeting")
    expect(card).to_contain_text(chosen)
    download_link = card.locator("a[download]")
    expect(download_link).to_have_text("Add to calendar (.ics)")
    with page.expect_download() as caught:
        download_link.click()
    calendar = Path(caught.value.path()).read_text()
    assert calendar.startswith("BEGIN:VCALENDAR") and "BEGIN:VEVENT" in calendar
    booked = page.locator("chinwag-widget .bubble.visitor").last.text_content()
    hour, minute = re.search(r"(\d\d):(\d\d) \(Europe/Berlin\)", booked).groups()
    start = re.search(r"DTSTART:(\d{8})T(\d\d)(\d\d)00Z", calendar).groups()
    assert (int(start[1]) + 1) % 24 == int(hour) or (int(start[1]) + 2) % 24 == int(hour)  # Berlin is UTC+1 or +2
    assert start[2] == minute and "SUMMARY:Meeting with " in calendar
    assert card.locator("a[href^='https://calendar.google.com/']").count() == 1
    page.context.close()
    assert problems.errors == []


def page_boxes(page: Any) -> list[dict[str, float]]:
    """The boxes of the page's own content: each line of its text, its controls and the banner."""
    return page.evaluate("""() => {
        const boxes = [];
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (!node.textContent.trim() || node.parentElement.closest('chinwag-widget, script, style')) continue;
            const range = document.createRange();
            range.selectNodeContents(node);
            boxes.push(...range.getClientRects());
        }
        document.querySelectorAll('button, input, img, #cookies').forEach((node) => boxes.push(node.getBoundingClientRect()));
        return boxes.filter((r) => r.width > 0 && r.height > 0).map((r) => ({x: r.x, y: r.y, width: r.width, height: r.height}));
    }""")


@pytest.mark.parametrize("width", [360, 390])
def test_on_a_phone_the_teaser_and_launcher_cover_no_page_content_or_cookie_banner(
        server: ServerThread, phone_site: HostSite, browser: Any, width: int) -> None:
    problems = PageProblems()
    phone = {**PHONE, "viewport": {"width": width, "height": 740}}
    for path in ("/short", "/banner"):
        page = visitor(browser, problems, **phone)  # a new visitor: the teaser shows on a session's first page
        page.goto(phone_site.url + path)
        widget = Widget(page)
        expect(widget.poke).to_be_visible()
        teaser, launcher = box(widget.poke), box(widget.launcher)
        for element in page_boxes(page):
            assert not overlaps(teaser, element), (path, element)
            assert not overlaps(launcher, element), (path, element)
        assert teaser["height"] <= launcher["height"]  # one line, in the launcher's own row
        assert teaser["x"] >= 0 and teaser["x"] + teaser["width"] <= launcher["x"]
        if path == "/banner":
            assert launcher["y"] + launcher["height"] <= box(page.locator("#cookies"))["y"]
        page.context.close()
    assert problems.errors == []


def test_on_a_phone_the_window_is_modal_and_holds_the_focus(server: ServerThread, browser: Any) -> None:
    problems = PageProblems()
    page = visitor(browser, problems, **PHONE)
    page.goto(server.url + "/")
    widget = Widget(page)
    widget.open()
    widget.bot_says("What brings you here today?")
    expect(widget.window).to_have_attribute("aria-modal", "true")
    settle(page)  # measured once the window's entrance animation has ended
    window = box(widget.window)
    assert (window["x"], window["y"], window["width"], window["height"]) == (0, 0, 390, 844)
    inside = "() => document.activeElement && document.activeElement.tagName === 'CHINWAG-WIDGET'"
    stops = set()
    for _ in range(12):  # round and round the window's controls, never out to the page behind it
        page.keyboard.press("Tab")
        assert page.evaluate(inside)
        stops.add(page.evaluate("() => document.querySelector('chinwag-widget').shadowRoot.activeElement.textContent"))
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(inside) and len(stops) >= 4
    page.keyboard.press("Escape")
    expect(widget.window).to_be_hidden()
    page.set_viewport_size({"width": 1280, "height": 800})  # on a desktop the page stays usable beside it
    widget.open()
    expect(widget.window).not_to_have_attribute("aria-modal", "true")
    page.context.close()
    assert problems.errors == []


def test_the_close_buttons_focus_ring_and_the_text_fields_edge_can_be_seen(server: ServerThread, browser: Any) -> None:
    problems = PageProblems()
    page = visitor(browser, problems)
    page.goto(server.url + "/")
    widget = Widget(page)
    widget.open()
    widget.choose("I'd like a demo")
    expect(widget.input).to_be_focused()
    page.keyboard.press("Shift+Tab")  # from the field back to the close button, by keyboard: its ring shows
    for _ in range(6):
        if page.locator("chinwag-widget .close:focus").count():
            break
        page.keyboard.press("Shift+Tab")
    assert widget.style(".close", "outline-style") == "solid"  # the keyboard's focus ring is drawn
    ring = widget.style(".close", "outline-color")
    header = widget.style(".head", "background-color")
    assert contrast_of(ring, header) >= 3, (ring, header)  # was #0969da on #1f6feb: 1.12:1
    edge = widget.style(".composer input", "border-top-color")
    field = widget.style(".composer input", "background-color")
    assert contrast_of(edge, field) >= 3, (edge, field)  # was 1.43:1 (WCAG 1.4.11 asks 3:1)
    page.context.close()
    assert problems.errors == []


def test_the_dark_preset_is_dark_and_passes_axe(tmp_path: Path, browser: Any) -> None:
    problems = PageProblems()
    with look_server(tmp_path / "dark", preset="dark", colors={}, powered_by="Chat by Acme",
                     powered_by_url="https://acme.example/chat") as dark_server:
        page = visitor(browser, problems)
        page.goto(dark_server.url + "/")
        widget = Widget(page)
        widget.open()
        widget.bot_says("What brings you here today?")
        assert widget.style(".window", "background-color") == "rgb(22, 27, 34)"
        assert widget.style(".bubble.bot", "color") == "rgb(230, 237, 243)"
        expect(page.locator("chinwag-widget .foot a")).to_have_text(["Privacy policy", "Chat by Acme"])
        assert axe_violations(page) == []  # colour contrast included
        widget.choose("I'd like a demo")
        widget.bot_says("What's your first name?")
        expect(widget.input).to_be_focused()
        shot(page, 1280, "dark")
        assert axe_violations(page) == []
        page.context.close()
    assert problems.errors == []


def test_motion_stops_when_the_visitor_asks_for_less(server: ServerThread, browser: Any) -> None:
    problems = PageProblems()
    for preference, expected in (("no-preference", "cw-in"), ("reduce", "none")):
        page = visitor(browser, problems, reduced_motion=preference)
        page.goto(server.url + "/")
        widget = Widget(page)
        widget.open()
        widget.bot_says("What brings you here today?")
        for selector in (".window", ".group"):
            assert widget.style(selector, "animation-name") == expected, (preference, selector)
        assert widget.style(".launcher", "transition-duration") == ("0.15s" if expected != "none" else "0s")
        page.context.close()
    assert problems.errors == []

"""What the browser tests share: the test theme, a branded project, the widget seen through its
Shadow DOM, a second site on another origin, a watch for script errors, and axe-core's checks."""

from __future__ import annotations

import http.server
import re
import threading
from pathlib import Path
from typing import Any

import yaml

from playwright.sync_api import expect

from chinwag.testing import QUICKSTART, write_project

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# The branding the browser tests check for; the avatar is written next to chinwag.yaml.
THEME = {
    "colors": {"primary": "#0a7d55", "bot_bubble": "#e6f2ec", "header": "#14213d"},
    "font_family": "'Trebuchet MS', Verdana, sans-serif",
    "bot_label": "Acme Assistant",
    "avatar": "bot.svg",
    "privacy_url": "https://acme.example/privacy",
}
AVATAR_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
              '<circle cx="32" cy="32" r="32" fill="#f4a261"/><circle cx="32" cy="26" r="12" fill="#fff"/></svg>')
RESPONSE_DELAY = 0.4


def axe_violations(page: Any, impacts: tuple[str, ...] = ("minor", "moderate", "serious", "critical")) -> list[str]:
    """axe-core's violations inside the widget (its Shadow DOM included), as "rule (impact): target".

    axe-core (MPL-2.0) comes pinned in the ``axe-playwright-python`` package (setup.cfg); it is put
    into the page once, through the DevTools protocol, which the page's CSP does not govern.
    """
    from axe_playwright_python.base import AXE_SCRIPT

    settle(page)  # a message fading in is not yet its final colour
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    results = page.evaluate("() => axe.run({include: [['chinwag-widget']]}, {resultTypes: ['violations']})")
    return [f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']]}"
            for violation in results["violations"] if violation["impact"] in impacts]


def settle(page: Any) -> None:
    """Wait for the widget's entrance animations to end (the typing dots go on for ever)."""
    page.evaluate("""() => Promise.all(document.querySelector('chinwag-widget').shadowRoot.getAnimations()
        .filter((a) => a.effect.getComputedTiming().iterations !== Infinity).map((a) => a.finished))""")


def contrast_of(foreground: str, background: str) -> float:
    """WCAG contrast of two computed CSS colours (``rgb(…)``), as the theme's startup check computes it."""
    from chinwag_widget_theme.contrast import contrast

    def hex_of(css: str) -> str:
        return "#" + "".join(f"{int(float(part)):02x}" for part in re.findall(r"[\d.]+", css)[:3])
    return contrast(hex_of(foreground), hex_of(background))


def branded_project(path: Path, **config: Any) -> Path:
    """The quickstart with the test theme, a short typing delay and ``config`` on top."""
    quickstart_plugins = yaml.safe_load((QUICKSTART / "chinwag.yaml").read_text())["plugins"]
    project = write_project(path, copy_from=QUICKSTART, config={
        "response_delay": RESPONSE_DELAY, "plugins": {**quickstart_plugins, "widget_theme": THEME}, **config,
    })
    (project / "bot.svg").write_text(AVATAR_SVG)
    return project


class PageProblems:
    """Script errors and CSP violations seen by a page; a test ends by asserting there were none."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any) -> Any:
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", lambda message: self.errors.append(f"console: {message.text}")
                if "Content Security Policy" in message.text else None)
        return page


class Widget:
    """The widget on one page, seen through its Shadow DOM."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.launcher = page.locator("chinwag-widget .launcher")
        self.window = page.locator("chinwag-widget .window")
        self.input = page.locator("chinwag-widget .composer input")
        self.send = page.locator("chinwag-widget .send")
        self.error = page.locator("chinwag-widget .error")
        self.typing = page.locator("chinwag-widget .typing")
        self.poke = page.locator("chinwag-widget .poke")

    def open(self) -> None:
        expect(self.launcher).to_be_visible()
        self.launcher.click()
        expect(self.window).to_be_visible()

    def bot_says(self, text: str) -> None:
        expect(self.page.locator("chinwag-widget .bubble.bot", has_text=text)).to_be_visible()

    def visitor_said(self, text: str) -> None:
        expect(self.page.locator("chinwag-widget .bubble.visitor", has_text=text)).to_be_visible()

    def choose(self, label: str) -> None:
        self.page.locator("chinwag-widget .choice", has_text=label).click()
        self.visitor_said(label)

    def type(self, text: str, press_enter: bool = True) -> None:
        expect(self.input).to_be_enabled()
        self.input.fill(text)
        if press_enter:
            self.input.press("Enter")
        else:
            self.send.click()

    def style(self, selector: str, prop: str) -> str:
        return self.page.locator(f"chinwag-widget {selector}").first.evaluate(
            f"(node) => getComputedStyle(node).getPropertyValue({prop!r})")


class HostSite:
    """A plain site on another loopback origin (another port) that embeds the widget.

    Its URL is known at once, so a project can allow it before the chinwag server starts;
    ``widget_src`` is set once the server's port is known. ``pages`` maps paths to pages of its
    own, in which ``{widget_src}`` stands for the widget's address.
    """

    def __init__(self, pages: dict[str, str] | None = None) -> None:
        self.widget_src = ""
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                page = (pages or {}).get(self.path)
                body = (page.replace("{widget_src}", site.widget_src) if page else
                        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host site</title>'
                        f'<script src="{site.widget_src}" async></script></head>'
                        f'<body><h1>A customer site</h1><a href="/other">Another page</a></body></html>').encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HostSite:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

"""The console of one app: its templates, cookie signer, pages' security headers and navigation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote
from typing import TYPE_CHECKING, Any

import attrs
import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .access import may
from .sessions import SignedIn, CookieSigner

if TYPE_CHECKING:
    from chinwag.app import Chinwag

PREFIX = "/-/console"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
# No inline script or style anywhere: scripts and styles come from the console's own files;
# charts are SVG images served by the console; the widget preview talks to this server only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; frame-ancestors 'none'")
SELF = ("'self'",)
# The pages, in the navigation's order: (path under the prefix, label, permission).
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("/overview", "Overview", "reports"),
    ("/dialogues", "Dialogues", "dialogues"),
    ("/meetings", "Meetings", "meetings"),
    ("/agents", "Agents & routing", "agents"),
    ("/integrations", "Integrations", "integrations"),
    ("/appearance", "Appearance", "theme"),
    ("/users", "Users", "users"),
    ("/audit", "Audit log", "audit"),
    ("/account", "Account", "account"),
)


@attrs.define
class ConsoleState:
    """Per-app state of the console plugin (``app.plugin_state(ConsoleState)``)."""

    console: Console | None = None


class Console:
    """Renders the console's pages for one app."""

    def __init__(self, app: Chinwag) -> None:
        self.app = app
        self.prefix = PREFIX
        self.signer = CookieSigner()
        self.templates = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                                            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                                            undefined=jinja2.StrictUndefined)
        self.templates.filters["when"] = _when
        self.templates.filters["percent"] = _percent

    def navigation(self, who: SignedIn | None) -> list[tuple[str, str]]:
        """The sections ``who`` may open: (URL, label); an agent's calendar first."""
        if who is None:
            return []
        sections = [(self.prefix + path, label) for path, label, permission in SECTIONS if may(who.user, permission)]
        if who.user.role == "agent":
            own = (f"{self.prefix}/agents/{quote(who.user.email)}", "My calendar")
            sections = [own, *((url, "My meetings" if label == "Meetings" else label) for url, label in sections
                               if not url.endswith("/agents"))]
        return sections

    def home(self, who: SignedIn) -> str:
        """Where ``who`` lands after signing in: their first section (an agent: their calendar)."""
        return self.navigation(who)[0][0]

    def render(self, request: Request, template: str, who: SignedIn | None, status: int = 200,
               headers: dict[str, str] | None = None, form_targets: tuple[str, ...] = (), **context: Any) -> Response:
        """A page of the console, with its security headers; never cached. ``form_targets``: origins
        besides the console's own that the page's forms lead to (a calendar provider's consent page)."""
        html = self.templates.get_template(template).render(
            prefix=self.prefix, who=who, user=who.user if who else None, csrf=who.csrf if who else "",
            nav=self.navigation(who), current=request.url.path, project=self.app.config.name, **context)
        return HTMLResponse(html, status_code=status, headers={
            "Content-Security-Policy": f"{CSP}; form-action {' '.join(SELF + form_targets)}",
            "Cache-Control": "no-store", **(headers or {})})

    def message(self, request: Request, who: SignedIn | None, title: str, text: str, status: int = 200) -> Response:
        """A page that only says something (a refusal, an error)."""
        return self.render(request, "message.html", who, status=status, title=title, text=text)

    def forbidden(self, request: Request, who: SignedIn) -> Response:
        """403: the role may not do this."""
        return self.message(request, who, "Not allowed",
                            f"Your role ({who.user.role}) does not allow this page or action.", 403)


def console_of(request: Request) -> Console:
    """The console of the app serving ``request``."""
    console = request.app.state.chinwag.plugin_state(ConsoleState).console
    assert console is not None, "the console's routes were not registered"
    return console


def _when(moment: dt.datetime | str | None) -> str:
    """A moment as ``2026-12-03 14:05 UTC``."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _percent(value: float | None) -> str:
    """A rate as ``42.5%`` (``-`` when there is nothing to divide)."""
    return "-" if value is None else f"{value:.1%}"

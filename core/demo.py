"""The demo site that ``chinwag serve --demo`` (and so ``make run``) shows at ``/``.

Two plain pages embed the widget exactly as a customer's site would, with one script tag, so a
person can chat on the first page, follow the link to the second and see the conversation go on.
The pages are sent with a strict Content-Security-Policy: if the widget ever needed an inline
script, ``eval`` or an inline style, the demo would break and show it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from .app import Chinwag

STATIC_DIR = Path(__file__).parent / "static"

# The policy a site with the strictest sensible settings would send. The widget's own styles are
# constructed stylesheets (CSSOM), which style-src does not govern, so no 'unsafe-inline' is needed.
DEMO_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

# (path, template, title) of each demo page; the pages link to one another.
DEMO_PAGES: tuple[tuple[str, str, str], ...] = (
    ("/", "demo.html", "Home"),
    ("/pricing", "demo-pricing.html", "Pricing"),
)


def demo_routes(app: Chinwag) -> list[BaseRoute]:
    """The demo pages, their stylesheet and icon, as Starlette routes."""
    routes: list[BaseRoute] = [
        Route(path, _page_endpoint(app, template, title), methods=["GET"], name=f"demo:{template}")
        for path, template, title in DEMO_PAGES
    ]
    routes.append(Route("/demo.css", _stylesheet_endpoint(app), methods=["GET"], name="demo:css"))
    routes.append(Route("/favicon.svg", favicon, methods=["GET"], name="demo:favicon"))
    return routes


async def favicon(request: Request) -> Response:
    """The demo pages' icon, so browsers find one instead of a 404."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})


def _page_endpoint(app: Chinwag, template_name: str, title: str):
    async def page(request: Request) -> Response:
        html = app.templates.get_template(template_name).render(
            title=title, project=app.config.name, pages=DEMO_PAGES, current=request.url.path,
        )
        return HTMLResponse(html, headers={"Content-Security-Policy": DEMO_CSP, "Cache-Control": "no-store"})

    return page


def _stylesheet_endpoint(app: Chinwag):
    async def stylesheet(request: Request) -> Response:
        css = app.templates.get_template("demo.css").render()
        return Response(css, media_type="text/css", headers={"Cache-Control": "no-cache"})

    return stylesheet

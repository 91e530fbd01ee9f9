"""The usual security headers on every HTTP response chinwag serves (core's routes and plugins').

An ASGI middleware: a header a route already set (a page's own Content-Security-Policy, the
widget's ``Cross-Origin-Resource-Policy: cross-origin``) is kept as it is. The widget is a
script other sites load with a ``<script>`` tag, never a frame, so nothing chinwag serves needs
to be framed.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
# For responses with no Content-Security-Policy of their own: no framing (modern browsers read
# this instead of X-Frame-Options).
DEFAULT_CSP = "frame-ancestors 'none'"
HSTS = "max-age=31536000"  # only over HTTPS (behind a proxy: the forwarded scheme uvicorn trusts)
# Admin answers hold leads and configuration: no browser or proxy cache keeps them.
PRIVATE_PREFIXES = ("/-/admin/",)


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` (and HSTS over HTTPS) to every HTTP response that lacks them, and
    ``Cache-Control: no-store`` to admin answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers as the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = scope.get("scheme") == "https"
        private = str(scope.get("path", "")).startswith(PRIVATE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = DEFAULT_CSP
                if secure and "strict-transport-security" not in headers:
                    headers["Strict-Transport-Security"] = HSTS
                if private:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)

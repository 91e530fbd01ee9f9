"""Calendar and CRM sandboxes served inside chinwag, for the offline demo (``sandbox: true``).

A provider plugin configured with ``sandbox: true`` keeps an in-memory stand-in of its vendor's
API, mounts it at ``/-/sandbox/<provider>`` on the chinwag server itself, and points its own
base and token URLs there, so the provider still speaks real HTTP over loopback. Such a
provider has a ``sandbox`` attribute holding its sandbox's state (a ``chinwag.sandbox.SandboxState``),
from which chinwag takes tokens for its agents at startup: there is no one to click "Allow" in a
demo, and the sandbox forgets every token when the process ends anyway.

A mounted sandbox is reachable by anyone who reaches the server, so:

* its vendor API stays authenticated as the vendor's is, with an OAuth client secret made up
  for this process (``private_client``), which only the server itself knows;
* its control routes (``/_sandbox...``: inspect the state, add busy times, revoke grants, inject
  faults) need the admin token, as every admin endpoint does (``mount_sandbox``);
* the server refuses to serve sandboxes on an address other than loopback unless the project
  says ``demo: true`` (``exposure_problem``);
* the server reaches its own sandboxes at the loopback address it listens on (``Chinwag.served_at``),
  not at ``public_url``, so the demo works on any host and port.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from .admin import admin_refusal

if TYPE_CHECKING:
    from .app import Chinwag
    from .config import Config
    from .sandbox import SandboxState

SANDBOX_PREFIX = "/-/sandbox/"
CONTROL_PREFIX = "/_sandbox"  # inside a sandbox: its inspection, steering and fault routes
State = TypeVar("State", bound="SandboxState")


def sandbox_path(provider_name: str) -> str:
    """Where a provider's sandbox is mounted on the chinwag server."""
    return SANDBOX_PREFIX + provider_name


def sandbox_url(app: Chinwag, provider_name: str) -> str:
    """The sandbox's URL as the provider reaches it: where this process listens (``served_at``), or
    the project's ``public_url`` when that is not known, plus the mount path."""
    return (app.served_at or app.config.public_url) + sandbox_path(provider_name)


def private_client(state: State) -> State:
    """``state`` with an OAuth client secret made up for this process, as a vendor hands out one per
    client: a mounted sandbox's API must not accept the well-known default a standalone one takes."""
    state.client_secret = secrets.token_urlsafe(32)
    return state


class ControlRoutesGuard:
    """An ASGI wrapper around a mounted sandbox: its control routes need the admin token; its
    vendor API routes pass through (they authenticate as the vendor does)."""

    def __init__(self, sandbox: ASGIApp, app: Chinwag) -> None:
        self.sandbox = sandbox
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a control route without the admin token with 401 (403 when the admin API is closed)."""
        if scope["type"] == "http" and is_control_path(scope):
            refusal = admin_refusal(Request(scope), self.app.config.admin_token)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.sandbox(scope, receive, send)


def is_control_path(scope: Scope) -> bool:
    """Whether a request inside a mounted sandbox asks for one of its control routes."""
    path, root = scope["path"], scope.get("root_path", "")
    inside = path[len(root):] if root and path.startswith(root) else path
    return ("/" + inside.lstrip("/")).startswith(CONTROL_PREFIX)


def mount_sandbox(app: Chinwag, provider_name: str, sandbox: ASGIApp) -> Mount:
    """The route that serves a provider's sandbox at ``/-/sandbox/<provider>``, control routes guarded."""
    return Mount(sandbox_path(provider_name), app=ControlRoutesGuard(sandbox, app))


def sandboxed_plugins(config: Config) -> list[str]:
    """The plugins the project configures with ``sandbox: true``."""
    return sorted(name for name, settings in config.plugins.items()
                  if isinstance(settings, Mapping) and settings.get("sandbox") is True)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an interface to listen on) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to any interface


def exposure_problem(config: Config, host: str) -> str | None:
    """Why serving on ``host`` is refused: sandboxes on a non-loopback interface without ``demo: true``."""
    plugins = sandboxed_plugins(config)
    if not plugins or is_loopback(host) or config.demo:
        return None
    return (f"{config.file}: refusing to listen on {host} with sandbox: true ({', '.join(plugins)}): a sandbox serves "
            "stand-in calendars and CRM data to anyone who reaches it. Listen on 127.0.0.1, or say demo: true in "
            "chinwag.yaml to serve a public demo on purpose.")


def loopback_url(host: str, port: int) -> str:
    """The URL at which this machine reaches a server listening on ``host:port``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host.strip('[]')}]:{port}" if ":" in host else f"http://{host}:{port}"


def in_sandbox(provider: Any) -> bool:
    """Whether a provider talks to a sandbox served by this process."""
    return getattr(provider, "sandbox", None) is not None


def sandbox_grant_tokens(provider: Any, email: str) -> dict[str, Any]:
    """Tokens for ``email`` issued by the provider's in-process sandbox, as a grant stores them."""
    issued = provider.sandbox.issue_tokens(email)
    return {"access_token": issued["access_token"], "refresh_token": issued["refresh_token"],
            "expires_at": time.time() + float(issued.get("expires_in", 3600)), "token_type": "Bearer"}

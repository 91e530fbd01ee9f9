"""The chinwag admin console, at ``/-/console/``: a plugin on the same doors as any third party.

It registers its tables (users, sessions, invites, API tokens, sign-in failures, the audit log),
its routes, the ``chinwag users`` command, and vouches for its users' tokens on the admin JSON API
(``admin_api_principal``). Pages are rendered on the server with Jinja2, with no inline script or
style, under a strict Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable

from chinwag import hookimpl

if TYPE_CHECKING:
    from chinwag.app import Chinwag

# What a non-admin user's token may call on the admin API: (method, path).
MARKETER_API = {("GET", "/-/admin/report.json")}
_DEMO_TASKS: set[Any] = set()  # the demo's background work, referenced until done


@hookimpl
def register_tables(register: Callable[[Any], Any]) -> None:
    """The console's tables (``chinwag_admin_console.tables``)."""
    from .tables import metadata

    for table in metadata.tables.values():
        register(table)


@hookimpl
def register_migrations(register: Callable[[Any], Any]) -> None:
    """The console's migrations (``chinwag_admin_console/migrations/``), which own its tables."""
    from chinwag.schema_sources import MigrationSource, package_folder

    from .tables import metadata

    register(MigrationSource("admin_console", package_folder(__file__), metadata.tables.values()))


@hookimpl
def register_routes(register: Callable[[Any], Any], app: Chinwag) -> None:
    """Every console page under ``/-/console/`` and its static files."""
    from .routes import console_routes

    for route in console_routes(app):
        register(route)


@hookimpl
def register_commands(cli: Any) -> None:
    """``chinwag users add|invite|list|disable|enable``."""
    from .commands import users

    cli.add_command(users)


@hookimpl
async def startup(app: Chinwag) -> None:
    """Under ``chinwag serve --demo`` (``make run``): demo users, their sign-in printed, demo chats."""
    import os

    if os.environ.get("CHINWAG_DEMO") and app.served_at:
        import asyncio

        from .demo import prepare_demo

        _DEMO_TASKS.add(task := asyncio.get_running_loop().create_task(prepare_demo(app)))
        task.add_done_callback(_DEMO_TASKS.discard)


@hookimpl
async def admin_api_principal(token: str, request: Any, app: Chinwag) -> str | None:
    """A console user's API token: admins may call every admin endpoint, marketers the report."""
    from .users import token_user

    if not token.startswith("cwu_"):
        return None
    user = await token_user(app, token)
    if user is None:
        return None
    if user.is_admin or (user.role == "marketer" and (request.method, request.url.path) in MARKETER_API):
        return user.email
    return None


@hookimpl
def page_url(subject: str, key: str, app: Chinwag) -> str | None:
    """The console's page for an agent (their calendar) or a conversation (its transcript), so the
    e-mails chinwag sends link where a person can sign in and act."""
    from urllib.parse import quote

    from chinwag.links import AGENT, CONVERSATION

    from .console import PREFIX

    if subject == AGENT:
        return f"{app.config.public_url}{PREFIX}/agents/{quote(key.lower(), safe='@')}"
    if subject == CONVERSATION:
        return f"{app.config.public_url}{PREFIX}/conversations/{quote(key, safe='')}"
    return None


@hookimpl
def internal_visit(headers: Mapping[str, str], app: Chinwag) -> str | None:
    """A chat from the console's preview page is the signed-in user's preview, not a visitor's."""
    from .preview import previewed_by

    email = previewed_by(app, headers)
    return f"console preview by {email}" if email else None

"""``chinwag users``: the first admin is made here; others are invited (a one-time link)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

PROJECT_OPTION = click.option("--project", "-p", default=".", show_default=True,
                              type=click.Path(file_okay=False, path_type=Path), help="The project folder.")


def _run(project: Path, work: Any) -> Any:
    from chinwag.project_commands import run_with_store

    return run_with_store(project, work)


@click.group()
def users() -> None:
    """Admin console users: admins, marketers and sales agents."""


@users.command("add")
@PROJECT_OPTION
@click.option("--role", type=click.Choice(["admin", "marketer", "agent"]), required=True)
@click.option("--name", default="", help="The name shown in the console (default: the email's first part).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.argument("email")
def add(project: Path, role: str, name: str, password_stdin: bool, email: str) -> None:
    """Add a user who signs in with EMAIL and a password (asked for, twice)."""
    from .passwords import WeakPassword, check_strength
    from .users import UserError, create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_strength(password)
        user = _run(project, lambda app: create_user(app, email, role, password, name))
    except (UserError, WeakPassword) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{user.email} can now sign in as {user.role} at /-/console/")


@users.command("invite")
@PROJECT_OPTION
@click.option("--role", type=click.Choice(["admin", "marketer", "agent"]), required=True)
@click.option("--name", default="")
@click.argument("email")
def invite_user(project: Path, role: str, name: str, email: str) -> None:
    """Print a one-time link (valid 7 days) with which EMAIL chooses a password."""
    from .users import UserError, invite

    async def work(app: Any) -> str:
        token = await invite(app, email, role, name)
        return f"{(app.config.public_url or 'http://127.0.0.1:8000').rstrip('/')}/-/console/invite/{token}"

    try:
        link = _run(project, work)
    except UserError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Send {email} this link (valid 7 days, once):\n{link}")


@users.command("list")
@PROJECT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(project: Path, as_json: bool) -> None:
    """Every user: email, role, and whether they can sign in."""
    from .users import list_users

    rows = _run(project, list_users)
    if as_json:
        click.echo(json.dumps([{"email": u.email, "name": u.name, "role": u.role, "active": u.active,
                                "disabled": u.disabled} for u in rows], indent=2))
        return
    for user in rows:
        state = "disabled" if user.disabled else "active" if user.active else "invited"
        click.echo(f"{user.email:<36} {user.role:<9} {state}")


@users.command("disable")
@PROJECT_OPTION
@click.argument("email")
def disable(project: Path, email: str) -> None:
    """Sign EMAIL out everywhere and refuse their sign-ins and tokens."""
    _set_disabled(project, email, True)


@users.command("enable")
@PROJECT_OPTION
@click.argument("email")
def enable(project: Path, email: str) -> None:
    """Let a disabled user sign in again."""
    _set_disabled(project, email, False)


def _set_disabled(project: Path, email: str, disabled: bool) -> None:
    from .users import UserError, set_disabled

    try:
        user = _run(project, lambda app: set_disabled(app, email, disabled))
    except UserError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{user.email} {'disabled' if disabled else 'enabled'}")

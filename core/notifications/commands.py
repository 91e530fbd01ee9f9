"""``chinwag notify test [--to ADDRESS]``: send a test message through every notifier now, so an
integrator can check the SMTP (or webhook) settings without booking a meeting."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import click


@click.group()
def notify() -> None:
    """Notifications: try the settings."""


@notify.command()
@click.option("--project", "-p", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="The project folder.")
@click.option("--to", "recipients", multiple=True, help="Send to this address (default: notifications.alerts_to).")
def test(project: Path, recipients: tuple[str, ...]) -> None:
    """Send a test notification through every notifier, at once (not through the outbox)."""
    from ..project_commands import load_project
    from . import TEST, Notification
    from .plugin import settings_of
    from .settings import recipients_problem

    app = load_project(project)
    settings, _ = settings_of(app)
    chosen = list(recipients) or settings.recipients(TEST, None)
    if problem := recipients_problem(chosen):
        raise click.BadParameter(problem, param_hint="--to")
    if not chosen:
        raise click.UsageError("nobody to send to: give --to ADDRESS or set notifications.alerts_to")
    if not len(app.notifiers):
        raise click.ClickException("no notifier is configured (add notifications.email to chinwag.yaml)")
    notification = Notification(TEST, f"test-{secrets.token_hex(8)}", dt.datetime.now(dt.timezone.utc), None,
                                {"reason": "a test from chinwag notify test"})
    failed = False
    for notifier in app.notifiers:
        try:
            asyncio.run(_send(notifier, notification, chosen))
            click.echo(f"{notifier.name}: sent to {', '.join(chosen)}")
        except Exception as error:  # the point is to show what is wrong
            failed = True
            click.echo(f"{notifier.name}: failed: {type(error).__name__}: {error}", err=True)
    if failed:
        raise SystemExit(1)


async def _send(notifier: Any, notification: Any, recipients: list[str]) -> None:
    await notifier.send(notification, recipients)

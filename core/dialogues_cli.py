"""``chinwag dialogues list|publish|unpublish``: publishing from the command line (``chinwag.publishing``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .project_commands import run_with_store

PROJECT = click.option("--project", "-p", default=".", show_default=True,
                       type=click.Path(file_okay=False, path_type=Path), help="The project folder.")
BY = click.option("--by", default="command line", show_default=True, help="Who made the change, as the listing shows it.")


@click.group()
def dialogues() -> None:
    """See and publish the project's dialogues: what visitors get is what is published, in every
    process (a running server picks a change up within publishing.refresh_seconds)."""


@dialogues.command(name="list")
@PROJECT
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_dialogues(project: Path, output: str) -> None:
    """Each dialogue: its status (published, unpublished, draft), the version visitors get, the
    newest version, and who changed it when."""
    states = run_with_store(project, lambda app: app.publisher.states())
    if output == "json":
        click.echo(json.dumps({"dialogues": [state.listing() for state in states]}, indent=2))
        return
    rows = [("DIALOGUE", "STATUS", "PUBLISHED", "LATEST", "RUNNING", "CHANGED", "BY")]
    for state in states:
        rows.append((state.id, state.status, str(state.published_version or "-"), str(state.latest_version),
                     "yes" if state.running else "no",
                     state.changed_at.strftime("%Y-%m-%d %H:%M") if state.changed_at else "-", state.changed_by or "-"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@dialogues.command()
@click.argument("dialogue")
@click.option("--version", type=click.IntRange(1), default=None, help="The version to publish (default: the newest).")
@PROJECT
@BY
def publish(dialogue: str, version: int | None, project: Path, by: str) -> None:
    """Publish DIALOGUE (its newest version, or --version N to go back to an older one)."""
    click.echo(json.dumps(_run(project, lambda app: app.publisher.publish(dialogue, version, by)).listing()))


@dialogues.command()
@click.argument("dialogue")
@PROJECT
@BY
def unpublish(dialogue: str, project: Path, by: str) -> None:
    """Stop showing DIALOGUE to visitors who have not engaged with it; those who have finish it."""
    click.echo(json.dumps(_run(project, lambda app: app.publisher.unpublish(dialogue, by)).listing()))


def _run(project: Path, work: Any) -> Any:
    from .publishing import PublishingError

    try:
        return run_with_store(project, work)
    except PublishingError as error:
        raise click.ClickException(str(error)) from error

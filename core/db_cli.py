"""``chinwag db``: upgrade, inspect and check the database schema (``chinwag.schema_migrate``).

Every command works on a project folder (``--project``, default the current folder) and its
``database:``; each exits 1 with one line on stderr when it fails.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from .project_commands import load_project

PROJECT = click.option("--project", "-p", default=".", show_default=True,
                       type=click.Path(file_okay=False, path_type=Path), help="The project folder.")


@click.group()
def db() -> None:
    """The database schema: each migration source (core and every plugin with tables) upgrades on its own."""


def run_migrator(project: Path, command: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Open the project's store without starting the app, run ``await work(migrator)``, close the
    store; on failure print ``chinwag db COMMAND: ...`` in one line and exit 1."""
    from .schema_migrate import Migrator
    from .store import Store

    app = load_project(project)

    async def main() -> Any:
        store = Store(app.config.database, app.metadata)
        try:
            return await work(Migrator(store, list(app.migration_sources), app.metadata))
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except Exception as error:  # one line for the operator; the cause is the database's or the revision's
        first = (str(error).strip().splitlines() or [""])[0]
        click.echo(f"chinwag db {command}: {type(error).__name__}: {first}", err=True)
        sys.exit(1)


@db.command()
@PROJECT
def upgrade(project: Path) -> None:
    """Upgrade every migration source to its head, under the database's schema lock (a second
    upgrade at the same time waits, then finds nothing to do). A database made before migrations
    (chinwag 0.1, or a development build after it) is adopted first: stamped at the last revision
    whose tables it has."""
    done = run_migrator(project, "upgrade", lambda migrator: migrator.upgrade())
    for step in done:
        before, after = ",".join(step.before) or "none", ",".join(step.after) or "none"
        adopted = f" (tables made before migrations: adopted at {step.adopted})" if step.adopted else ""
        click.echo(f"{step.source}: {before} -> {after}{adopted}" if before != after else f"{step.source}: {after} (at head)")


@db.command()
@PROJECT
def current(project: Path) -> None:
    """Print each migration source and the revision the database is at."""
    for status in run_migrator(project, "current", lambda migrator: migrator.status()):
        current_revision = ",".join(status.current) or "none"
        heads = ",".join(status.heads)
        click.echo(f"{status.source}: {current_revision} " + ("(head)" if status.at_head else f"(head is {heads})"))


@db.command()
@PROJECT
@click.argument("source", required=False)
def history(project: Path, source: str | None) -> None:
    """List each migration source's revisions (or SOURCE's), newest first."""

    async def listing(migrator: Any) -> list[str]:
        lines = []
        for name in [source] if source else [s.name for s in migrator.sources]:
            for script in migrator.history(name):
                head = " (head)" if script.is_head else ""
                lines.append(f"{name} {script.revision}{head}: {(script.doc or '').splitlines()[0] if script.doc else ''}")
        return lines

    click.echo("\n".join(run_migrator(project, "history", listing)))


@db.command()
@PROJECT
def check(project: Path) -> None:
    """Compare the tables, columns and indexes the app declares with the database; exit 1 listing
    each difference (a table or change that no revision makes, or a source not at head)."""
    from .schema_check import schema_differences

    differences = run_migrator(project, "check", schema_differences)
    if differences:
        for line in differences:
            click.echo(line, err=True)
        click.echo(f"chinwag db check: {len(differences)} difference(s) between the declared schema and the database",
                   err=True)
        sys.exit(1)
    click.echo("the database matches the declared schema")


@db.command()
@PROJECT
@click.argument("source")
@click.argument("revision", default="-1")
def downgrade(project: Path, source: str, revision: str) -> None:
    """Take one migration SOURCE down to REVISION (default -1: one step back; base: nothing)."""
    step = run_migrator(project, "downgrade", lambda migrator: migrator.downgrade(source, revision))
    click.echo(f"{step.source}: {','.join(step.before) or 'none'} -> {','.join(step.after) or 'none'}")


@db.command()
@PROJECT
@click.argument("source")
@click.option("--message", "-m", required=True, help="What the revision changes.")
@click.option("--empty", is_flag=True, help="Write an empty revision instead of autogenerating it.")
def revision(project: Path, source: str, message: str, empty: bool) -> None:
    """For developers: write a new revision of SOURCE, autogenerated from the difference between its
    declared tables and the project's database (upgrade it first), to be read and corrected."""
    script = run_migrator(project, "revision", lambda migrator: migrator.revision(source, message, not empty))
    click.echo(f"wrote {script.path}" if script is not None else "no revision written")

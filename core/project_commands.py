"""What every command that works on a project folder needs: the app, or a clear exit, and its store.

Kept apart from ``chinwag.cli`` so that command modules (core's and plugins') can use it without
importing the root command group.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from .app import Chinwag


def load_project(project: Path) -> Chinwag:
    """The project's app object, or exit 1 after printing every problem to stderr."""
    from .app import Chinwag
    from .problems import InvalidProject

    try:
        return Chinwag.from_project(project)
    except InvalidProject as error:
        for problem in error.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(error.problems)} problem(s) found; nothing was started.", err=True)
        sys.exit(1)


def run_with_store(project: Path, work: Any) -> Any:
    """Open the project's store, run ``await work(app)``, close the store. A schema the app may
    not upgrade (``chinwag.schema_policy``) exits 1 with the one line that says what to run."""
    app = load_project(project)

    async def main() -> Any:
        try:
            await app.start()
        except BaseException:
            if app.store is not None:
                await app.store.close()
            raise
        try:
            return await work(app)
        finally:
            await app.stop()

    with _refusal_exits():
        return asyncio.run(main())


def ready_or_exit(app: Chinwag, migrate: bool = False) -> None:
    """Upgrade the app's schema (``migrate``, or as its policy says) or check that it is at head;
    else print the one-line refusal and exit 1 (``chinwag serve`` before it starts serving)."""
    from .schema_policy import ready_schema
    from .store import Store

    async def main() -> None:
        app.store = Store(app.config.database, app.metadata)
        try:
            await ready_schema(app, True if migrate else None)
        finally:
            await app.store.close()
            app.store = None

    with _refusal_exits():
        asyncio.run(main())


@contextlib.contextmanager
def _refusal_exits() -> Iterator[None]:
    """A schema the app may not upgrade (``SchemaNotReady``): its one line on stderr, exit 1."""
    from .schema_policy import SchemaNotReady

    try:
        yield
    except SchemaNotReady as refusal:
        click.echo(str(refusal), err=True)
        sys.exit(1)

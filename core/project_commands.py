"""What every command that works on a project folder needs: the app, or a clear exit, and its store.

Kept apart from ``chinwag.cli`` so that command modules (core's and plugins') can use it without
importing the root command group.
"""

from __future__ import annotations

import asyncio
import sys
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
    """Open the project's store, run ``await work(app)``, close the store."""
    app = load_project(project)

    async def main() -> Any:
        await app.start()
        try:
            return await work(app)
        finally:
            await app.stop()

    return asyncio.run(main())

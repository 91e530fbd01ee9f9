"""``chinwag outbox [retry|resume]`` and ``chinwag crm sync|status``: the operator's view of
outbound deliveries and of people pulled from CRMs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .outbox import STATES

if TYPE_CHECKING:
    from .app import Chinwag
    from .crm_records import SyncProgress

PROJECT_OPTION = click.option("--project", "-p", default=".", show_default=True,
                              type=click.Path(file_okay=False, path_type=Path), help="The project folder.")


def _run(project: Path, work: Any) -> Any:
    from .project_commands import run_with_store

    try:
        return run_with_store(project, work)
    except ValueError as error:  # a bad consumer name, state or id: said plainly
        raise click.ClickException(str(error)) from error


@click.group(invoke_without_command=True)
@PROJECT_OPTION
@click.option("--consumer", default=None, help="Only this consumer's items.")
@click.option("--state", type=click.Choice(STATES), default=None, help="Only items in this state.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="How many items to list.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def outbox(context: click.Context, project: Path, consumer: str | None, state: str | None, limit: int,
           as_json: bool) -> None:
    """Outbound work for CRMs and other consumers: each consumer's counts, then the newest items
    (skipped and dead ones with their reasons)."""
    if context.invoked_subcommand is not None:
        return
    from .outbox import list_items, summary

    async def read(app: Chinwag) -> tuple[dict[str, Any], list[Any]]:
        assert app.store is not None
        return await summary(app.store), await list_items(app.store, consumer, state, limit)

    consumers, items = _run(project, read)
    if as_json:
        click.echo(json.dumps({"consumers": consumers, "items": [item.listing() for item in items]}, indent=2))
        return
    for name, entry in consumers.items():
        waiting = (f"paused until {entry['paused_until']} ({entry['pause_reason']})" if entry["paused_until"]
                   else f"retrying at {entry['retry_at']}" if entry["retry_at"] else "")
        counts = "  ".join(f"{key} {entry[key]}" for key in STATES)
        click.echo(f"{name}: {counts}  {waiting}".rstrip())
    for item in items:
        reason = f"  {item.last_error}" if item.last_error and item.state != "delivered" else ""
        click.echo(f"{item.id:>8}  {item.consumer:<16} {item.state:<9} {item.kind:<16} "
                   f"attempts {item.attempts}  {item.created_at.isoformat(timespec='seconds')}{reason}")


@outbox.command()
@PROJECT_OPTION
@click.argument("ids", nargs=-1, type=int)
@click.option("--dead", is_flag=True, help="Every dead item instead of IDS.")
@click.option("--consumer", default=None, help="Only this consumer's items.")
def retry(project: Path, ids: tuple[int, ...], dead: bool, consumer: str | None) -> None:
    """Put skipped or dead items (IDS, or every dead one) back in the queue."""
    from .outbox import requeue

    if bool(ids) == dead:
        raise click.UsageError("give item ids or --dead")
    count = _run(project, lambda app: requeue(app.store, ids, dead, consumer))
    click.echo(f"{count} item(s) back in the queue")


@outbox.command()
@PROJECT_OPTION
@click.argument("consumer")
def resume(project: Path, consumer: str) -> None:
    """Lift a consumer's pause (a quota wait) by hand."""
    from .outbox import resume as resume_consumer

    was_paused = _run(project, lambda app: resume_consumer(app.store, consumer))
    click.echo(f"{consumer}: " + ("resumed" if was_paused else "was not paused"))


@click.group()
def crm() -> None:
    """People pulled from CRM connectors."""


@crm.command()
@PROJECT_OPTION
@click.argument("connector")
@click.option("--max-pages", type=click.IntRange(min=1), default=None, help="Stop after this many pages.")
def sync(project: Path, connector: str, max_pages: int | None) -> None:
    """Pull people changed since the last sync (from the start, the first time); resumable."""
    from .crm_records import pull

    started = time.monotonic()

    def report(progress: SyncProgress) -> None:
        rate = progress.rows / max(time.monotonic() - started, 1e-6)
        total = f"/{progress.total}" if progress.total else ""
        activities = f", {progress.activities} activities" if progress.activities else ""
        click.echo(f"\r{progress.connector}: {progress.rows}{total} rows{activities}, page {progress.pages}, "
                   f"{rate:,.0f} rows/s", nl=progress.done, err=True)

    async def work(app: Chinwag) -> SyncProgress:
        if connector not in app.crm_connectors:
            raise click.ClickException(f"no CRM connector named {connector!r} (installed: "
                                       f"{', '.join(app.crm_connectors.names()) or 'none'})")
        assert app.store is not None
        return await pull(app.store, app.crm_connectors[connector], report, max_pages)

    done = _run(project, work)
    click.echo(json.dumps({"connector": done.connector, "rows": done.rows, "total_rows": done.total_rows,
                           "pages": done.pages, "done": done.done, "refused": done.refused}))


@crm.command()
@PROJECT_OPTION
def status(project: Path) -> None:
    """Each connector's last sync: cursor, rows stored, last error."""
    from .crm_records import sync_state

    async def work(app: Chinwag) -> list[Any]:
        assert app.store is not None
        return [await sync_state(app.store, name) or {"connector": name, "cursor": None, "rows": 0}
                for name in app.crm_connectors.names()]

    click.echo(json.dumps(_run(project, work), indent=2))

"""``chinwag marketo setup`` (the custom activity types), ``chinwag marketo status`` and
``chinwag marketo sync`` (the initial sync through Bulk Extract, then the incremental pull)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from chinwag.app import Chinwag

    from .client import MarketoClient

PROJECT_OPTION = click.option("--project", "-p", default=".", show_default=True,
                              type=click.Path(file_okay=False, path_type=Path), help="The project folder.")

PRIMARY = {"apiName": "chinwagEventId", "name": "Chinwag event id",
           "description": "The chinwag event this activity records (its idempotency key)"}
COMMON = (("dialogueName", "Dialogue name"), ("pageUrl", "Page URL"), ("sessionId", "Chat session id"))

# Per custom activity type (by its role): name, trigger and filter names, and its attributes.
ACTIVITY_TYPES: dict[str, dict[str, Any]] = {
    "engaged": {"name": "Engaged with a Dialogue (chinwag)", "triggerName": "Engages with a Dialogue (chinwag)",
                "filterName": "Engaged with a Dialogue (chinwag)",
                "attributes": (*COMMON, ("status", "Conversation status"))},
    "goal": {"name": "Reached Dialogue Goal (chinwag)", "triggerName": "Reaches Dialogue Goal (chinwag)",
             "filterName": "Reached Dialogue Goal (chinwag)", "attributes": (*COMMON, ("goalName", "Goal name"))},
    "meeting": {"name": "Scheduled Meeting in Dialogue (chinwag)",
                "triggerName": "Schedules Meeting in Dialogue (chinwag)",
                "filterName": "Scheduled Meeting in Dialogue (chinwag)",
                "attributes": (*COMMON, ("agentEmail", "Agent email"), ("agentName", "Agent name"),
                               ("scheduledFor", "Scheduled for"), ("meetingStatus", "Meeting status"),
                               ("routingQueue", "Routing queue"))},
}


async def set_up_activity_types(client: MarketoClient, api_names: dict[str, str]) -> list[str]:
    """Create, complete and approve the three custom activity types; return what was done (idempotent)."""
    body = await client.request("GET", "/rest/v1/activities/external/types.json")
    existing = {kind.get("apiName"): kind for kind in body.get("result") or []}
    done: list[str] = []
    for role, spec in ACTIVITY_TYPES.items():
        api_name = api_names[role]
        kind = existing.get(api_name)
        if kind is not None and kind.get("status") == "approved":
            done.append(f"{api_name}: approved already")
            continue
        base = f"/rest/v1/activities/external/type/{api_name}"
        if kind is None:
            await client.request("POST", "/rest/v1/activities/external/type.json", json={
                "apiName": api_name, "name": spec["name"], "triggerName": spec["triggerName"],
                "filterName": spec["filterName"], "primaryAttribute": PRIMARY})
            done.append(f"{api_name}: created")
            have: set[str] = set()
        else:
            have = {attribute.get("apiName") for attribute in kind.get("attributes") or []}
        missing = [{"apiName": name, "name": label, "dataType": "string"}
                   for name, label in spec["attributes"] if name not in have]
        if missing:
            await client.request("POST", f"{base}/attributes/create.json", json={"attributes": missing})
            done.append(f"{api_name}: {len(missing)} attribute(s) added")
        await client.request("POST", f"{base}/approve.json")
        done.append(f"{api_name}: approved")
    return done


def _run(project: Path, work: Any) -> Any:
    from chinwag.project_commands import run_with_store

    return run_with_store(project, work)


def _connector(app: Chinwag) -> Any:
    from .plugin import connector_of

    connector = connector_of(app)
    if connector is None:
        raise click.ClickException("Marketo is not configured: add plugins: marketo: {...} to chinwag.yaml")
    return connector


@click.group()
def marketo() -> None:
    """Marketo: custom activity types, the sync of leads and its status."""


@marketo.command()
@PROJECT_OPTION
def setup(project: Path) -> None:
    """Create and approve chinwag's three custom activity types in Marketo, if missing."""
    from .client import MarketoAuthError, MarketoError

    async def work(app: Chinwag) -> list[str]:
        connector = _connector(app)
        try:
            return await set_up_activity_types(connector.client, dict(connector.settings.activity_types))
        except (MarketoError, MarketoAuthError) as error:
            raise click.ClickException(str(error)) from error

    for line in _run(project, work):
        click.echo(line)


@marketo.command()
@PROJECT_OPTION
def status(project: Path) -> None:
    """Sync cursor and rows, write-back queue, and calls in the current rate window."""
    from chinwag.crm_records import sync_state
    from chinwag.outbox import summary

    async def work(app: Chinwag) -> dict[str, Any]:
        connector = _connector(app)
        assert app.store is not None
        settings = connector.settings
        calls = connector.client.limiter(lookup=False)
        lookups = connector.client.limiter(lookup=True) if settings.lookup_share else None
        return {"sync": await sync_state(app.store, connector.name),
                "outbox": (await summary(app.store)).get(connector.name),
                "calls_today": await calls.calls_today() + (await lookups.calls_today() if lookups else 0),
                "daily_quota": "50,000 for most subscriptions (resets at midnight US Central)",
                "calls_in_rate_window": await calls.calls_in_window(),
                "lookups_in_rate_window": await lookups.calls_in_window() if lookups else 0,
                "shares": f"{settings.rate_share} calls and {settings.lookup_share} lookups per {settings.rate_window:g} s"}

    click.echo(json.dumps(_run(project, work), indent=2))


def _since(value: str | None) -> Any:
    import datetime as dt

    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise click.BadParameter(f"not an ISO 8601 date or time: {value!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@marketo.command()
@PROJECT_OPTION
@click.option("--since", default=None, help="Start the initial sync at this ISO date (default: two years ago, or "
              "where an interrupted run stopped). The same date continues an interrupted run; another "
              "date, or any date after the initial sync finished, exports again from there.")
@click.option("--window-days", type=click.IntRange(1, 31), default=31, show_default=True,
              help="Days per export job: updatedAt for leads, createdAt for activities (Marketo allows at most 31).")
@click.option("--poll-seconds", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds between status calls while a job is queued or processing.")
@click.option("--queue-wait-seconds", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds to wait when Marketo's export queue is full or its daily export quota is spent.")
@click.option("--retry-seconds", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Seconds to wait after a transient failure (an outage, a rate limit without a wait of its own).")
def sync(project: Path, since: str | None, window_days: int, poll_seconds: float, queue_wait_seconds: float,
         retry_seconds: float) -> None:
    """Sync leads in: the initial sync through Bulk Extract, then the incremental pull.

    The first run exports every lead by updatedAt windows and stores them as they stream in, then
    the activities of the types in ``sync_activity_types`` by createdAt windows; it
    can be interrupted (Ctrl-C, or killed) and run again to continue. Once it has finished, this
    command pulls what changed since, like ``chinwag crm sync marketo``: people whose synced
    fields changed, and new activities of the types in ``sync_activity_types``.
    """
    import sys
    import time

    from chinwag.crm_records import SyncProgress, pull, sync_state
    from chinwag.outbox import PauseDelivery, RetryLater

    from .bulk_sync import BulkOptions, BulkProgress, BulkSync, is_bulk_cursor
    from .client import MarketoAuthError, MarketoError

    start_at = _since(since)
    started = time.monotonic()
    tty = sys.stderr.isatty()

    def bulk_report(progress: BulkProgress) -> None:
        stored = (f"{progress.total_rows:,} rows stored" if progress.phase == "leads"
                  else f"activities: {progress.total_activities:,} activities stored")
        line = (f"marketo bulk: {stored}, windows {progress.windows_done}/"
                f"{progress.windows_total}, {progress.rate:,.0f} rows/s, ETA {_duration(progress.eta)}")
        if progress.waiting:
            line += f" (waiting: {progress.waiting})"
        click.echo(("\r" if tty else "") + line, nl=progress.done or not tty, err=True)

    def pull_report(progress: SyncProgress) -> None:
        rate = progress.rows / max(time.monotonic() - started, 1e-6)
        click.echo(f"marketo changes: {progress.rows} rows, {progress.activities} activities, page {progress.pages}, "
                   f"{rate:,.0f} rows/s", err=True)

    async def work(app: Chinwag) -> dict[str, Any]:
        connector = _connector(app)
        assert app.store is not None
        state = await sync_state(app.store, connector.name)
        cursor = state["cursor"] if state else None
        try:
            if cursor and not is_bulk_cursor(cursor) and start_at is None:
                done = await pull(app.store, connector, pull_report)
                return {"connector": connector.name, "phase": "changes", "rows": done.rows,
                        "total_rows": done.total_rows, "activities": done.activities, "pages": done.pages,
                        "done": done.done}
            options = BulkOptions(window_days=window_days, poll_seconds=poll_seconds,
                                  queue_wait_seconds=queue_wait_seconds, retry_seconds=retry_seconds)
            result = await BulkSync(app.store, connector, options, bulk_report).run(start_at)
        except (MarketoError, MarketoAuthError, PauseDelivery, RetryLater) as error:
            raise click.ClickException(f"{error} (run the command again to continue)") from error
        return {"connector": connector.name, "phase": "bulk", "rows": result.rows, "total_rows": result.total_rows,
                "activities": result.activities, "total_activities": result.total_activities,
                "windows": result.windows_total, "seconds": round(result.elapsed, 2), "done": result.done}

    try:
        click.echo(json.dumps(_run(project, work)))
    except KeyboardInterrupt:
        # Every stored batch is committed and the cursor names the last whole window: nothing to undo.
        click.echo("\ninterrupted: run the command again to continue where it stopped", err=True)
        raise SystemExit(130) from None

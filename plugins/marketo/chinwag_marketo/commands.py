"""``chinwag marketo setup`` (the custom activity types) and ``chinwag marketo status``."""

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
    """Marketo: custom activity types, sync status."""


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
        calls = connector.client._make_limiter("calls", settings.rate_share)
        lookups = connector.client._make_limiter("lookups", max(settings.lookup_share, 1))
        return {"sync": await sync_state(app.store, connector.name),
                "outbox": (await summary(app.store)).get(connector.name),
                "calls_in_rate_window": await calls.calls_in_window(),
                "lookups_in_rate_window": await lookups.calls_in_window(),
                "shares": f"{settings.rate_share} calls and {settings.lookup_share} lookups per {settings.rate_window:g} s"}

    click.echo(json.dumps(_run(project, work), indent=2))

"""``chinwag agents list|order|connect|rekey|schedule`` and ``chinwag meetings [cancel|reschedule|reconcile]``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

PROJECT_OPTION = click.option("--project", "-p", default=".", show_default=True,
                              type=click.Path(file_okay=False, path_type=Path), help="The project folder.")


def _run(project: Path, work: Any) -> Any:
    from ..project_commands import run_with_store

    return run_with_store(project, work)


def _fail(error: Exception) -> None:
    raise click.ClickException(str(error))


@click.group()
def agents() -> None:
    """Sales agents: the routing queue, their calendars."""


@agents.command("list")
@PROJECT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_agents(project: Path, as_json: bool) -> None:
    """The routing queue in order, with each agent's calendar status."""
    from .agent_state import queue

    rows = _run(project, queue)
    if as_json:
        click.echo(json.dumps([{"position": r.position, "email": r.email, "name": r.name, "provider": r.provider,
                                "status": r.status, "reason": r.reason} for r in rows], indent=2))
        return
    for row in rows:
        note = "  (needs reconnect: run chinwag agents connect)" if row.status == "needs_reconnect" else ""
        click.echo(f"{row.position:>3}  {row.email:<32} {row.name:<24} {row.provider or '-':<8} {row.status}{note}")


@agents.command()
@PROJECT_OPTION
@click.argument("emails", nargs=-1, required=True)
def order(project: Path, emails: tuple[str, ...]) -> None:
    """Set the routing queue: EMAILS first, in this order; the others follow."""
    from .agent_state import set_order

    try:
        _run(project, lambda app: set_order(app, list(emails)))
    except ValueError as error:
        _fail(error)
    click.echo("queue: " + ", ".join(emails))


@agents.command()
@PROJECT_OPTION
@click.option("--provider", required=True, help="The calendar provider: google, outlook, ...")
@click.argument("email")
def connect(project: Path, provider: str, email: str) -> None:
    """Print the consent URL EMAIL opens to connect their calendar (valid for an hour, once)."""
    from .agent_state import start_connect

    try:
        url = _run(project, lambda app: start_connect(app, email, provider))
    except ValueError as error:
        _fail(error)
    click.echo(f"Ask {email} to open this link and allow access:\n{url}")


@agents.command()
@PROJECT_OPTION
def rekey(project: Path) -> None:
    """Re-encrypt every agent's stored calendar tokens with the first key of CHINWAG_SECRET_KEY,
    so the older keys after it can be dropped (docs/deployment.md, "Rotating the secret key")."""
    from ..credentials import CredentialsKeyMissing, CredentialsUnreadable
    from .agent_state import rekey as rekey_tokens

    try:
        count = _run(project, rekey_tokens)
    except (CredentialsKeyMissing, CredentialsUnreadable) as error:
        _fail(error)
    click.echo(json.dumps({"rekeyed": count}))


@agents.command()
@PROJECT_OPTION
@click.argument("email")
@click.option("--set", "values", default=None, metavar="JSON",
              help='Save these keys over chinwag.yaml\'s, e.g. \'{"duration": 45, "availability": {"monday": ["09:00-12:00"]}}\'.')
@click.option("--clear", is_flag=True, help="Forget the saved schedule: chinwag.yaml's applies again.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def schedule(project: Path, email: str, values: str | None, clear: bool, as_json: bool) -> None:
    """EMAIL's schedule in force (hours, zone, meeting length, buffer, notice, horizon) and where it
    comes from; --set saves keys over chinwag.yaml's (as the console's agent page does), --clear
    forgets them."""
    from .schedules import SCHEDULE_KEYS, clear_schedule, refresh_schedules, save_schedule, schedule_of

    if values is not None and clear:
        raise click.UsageError("--set and --clear cannot go together")
    wanted: Any = None
    if values is not None:
        try:
            wanted = json.loads(values)
        except ValueError as error:
            raise click.BadParameter(f"is not JSON ({error})", param_hint="--set") from None
        if not isinstance(wanted, dict):
            raise click.BadParameter(f"must be a JSON object of {', '.join(SCHEDULE_KEYS)}", param_hint="--set")
    email = email.lower()

    async def work(app: Any) -> tuple[list[Any], dict[str, Any] | None, Any]:
        problems: list[Any] = []
        if wanted is not None:
            problems = await save_schedule(app, email, wanted, by=None)
        elif clear:
            await clear_schedule(app, email)
        settings = await refresh_schedules(app)
        agent = settings.agents.get(email)
        saved = app.plugin_state(MeetingsState).saved.get(email)
        return problems, schedule_of(agent.availability) if agent else None, saved

    from .state import MeetingsState

    try:
        problems, shape, saved = _run(project, work)
    except LookupError as error:
        _fail(error)
    if problems:
        raise click.ClickException("the schedule was not saved:\n" + "\n".join(f"  {p.key}: {p.message}" for p in problems))
    if shape is None:
        _fail(LookupError(f"{email} is not listed under agents: in chinwag.yaml"))
    source = (f"saved {saved.updated_at:%Y-%m-%d %H:%M} UTC by {saved.updated_by or 'the command line'}"
              if saved else "chinwag.yaml")
    if as_json:
        click.echo(json.dumps({"email": email, "source": "saved" if saved else "chinwag.yaml", **shape}, indent=2))
        return
    click.echo(f"{email}: {source}")
    click.echo(f"  time zone       {shape['time_zone']}")
    for day, spans in shape["availability"].items():
        click.echo(f"  {day:<15} {', '.join(spans)}")
    click.echo(f"  meeting length  {shape['duration']} min, buffer after {shape['buffer_after']} min")
    click.echo(f"  minimum notice  {shape['minimum_notice']} min, bookable {shape['horizon_days']} days ahead")


@click.group(invoke_without_command=True)
@PROJECT_OPTION
@click.option("--agent", default=None, help="Only this agent's meetings.")
@click.option("--since", default=None, help="Only meetings starting at or after this ISO 8601 time.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def meetings(context: click.Context, project: Path, agent: str | None, since: str | None, as_json: bool) -> None:
    """Booked meetings: lead, agent, time, status and whether the time has passed."""
    if context.invoked_subcommand is not None:
        return
    from .admin import list_meetings
    from .routes import parse_time

    try:
        start = parse_time(since)
    except ValueError:
        raise click.BadParameter("must be an ISO 8601 time", param_hint="--since") from None
    rows = _run(project, lambda app: list_meetings(app, agent, start))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['id']}  {row['start']}  {row['status']:<11} {'passed' if row['passed'] else 'upcoming':<8} "
                   f"{row['agent_email']:<28} {row['lead_email'] or '-'}")


@meetings.command()
@PROJECT_OPTION
@click.argument("meeting_id")
def cancel(project: Path, meeting_id: str) -> None:
    """Cancel a meeting; the provider tells the attendee."""
    from ..calendars import CalendarError
    from .admin import MeetingError, cancel_meeting

    try:
        meeting = _run(project, lambda app: cancel_meeting(app, meeting_id))
    except (MeetingError, CalendarError) as error:
        _fail(error)
    click.echo(f"{meeting['id']} cancelled")


@meetings.command()
@PROJECT_OPTION
@click.argument("meeting_id")
@click.option("--to", "to", required=True, help="The new start, ISO 8601 (UTC unless an offset is given).")
def reschedule(project: Path, meeting_id: str, to: str) -> None:
    """Move a meeting to a new start; the provider tells the attendee."""
    from ..calendars import CalendarError
    from .admin import MeetingError, reschedule_meeting
    from .routes import parse_time

    try:
        start = parse_time(to)
    except ValueError:
        raise click.BadParameter("must be an ISO 8601 time", param_hint="--to") from None
    try:
        meeting = _run(project, lambda app: reschedule_meeting(app, meeting_id, start))
    except (MeetingError, CalendarError) as error:
        _fail(error)
    click.echo(f"{meeting['id']} rescheduled to {meeting['start']}")


@meetings.command()
@PROJECT_OPTION
def reconcile(project: Path) -> None:
    """Cancel calendar events whose booking never finished (a lost answer, a provider outage, a crash)."""
    from .reconcile import sweep

    result = _run(project, sweep)
    click.echo(f"{result.cancelled} event(s) cancelled, {result.cleared} record(s) cleared with nothing to cancel, "
               f"{result.waiting} waiting (provider down or agent must reconnect)")

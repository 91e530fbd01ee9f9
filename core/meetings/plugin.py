"""Meetings, built in as a plugin: the ``meeting`` card, agents, OAuth callback, admin and CLI.

It uses only the doors a third-party plugin has: its configuration sections, tables and event
type are registered through hooks, its per-app data is ``app.plugin_state(MeetingsState)``.
Blocking it (``CHINWAG_DISABLE_PLUGINS=chinwag.meetings.plugin``) leaves a chat server with no
trace of meetings. Routing strategies come from plugins (``chinwag-round-robin`` registers
round_robin, weighted and fewest_meetings); calendar providers too (``chinwag-google-calendar``,
``chinwag-outlook``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..config import Config, ConfigSection
from ..events import EventType
from ..hookspecs import hookimpl
from ..problems import Problem
from .state import MeetingsState

if TYPE_CHECKING:
    from ..app import Chinwag


@hookimpl
def register_config_sections(register: Callable[[ConfigSection], Any]) -> None:
    """``agents:`` and ``meetings:`` in chinwag.yaml."""
    register(ConfigSection("agents", "sales agents: calendars, availability, routing queue"))
    register(ConfigSection("meetings", "meeting booking: routing rules, teams, invitation, fallback"))


@hookimpl
def register_tables(register: Callable[[Any], Any]) -> None:
    """Agents, connect requests, meetings, their claims and the routing pointers."""
    from .tables import metadata

    for table in metadata.tables.values():
        register(table)


@hookimpl
def register_migrations(register: Callable[[Any], Any]) -> None:
    """The meetings' migrations (``chinwag/meetings/migrations/``), which own their tables."""
    from ..schema_sources import MigrationSource, package_folder
    from .tables import metadata

    register(MigrationSource("meetings", package_folder(__file__), metadata.tables.values()))


@hookimpl
def register_event_types(register: Callable[[EventType], Any]) -> None:
    """``meeting_booked`` and ``booking_failed``, which the meeting card emits."""
    register(EventType("meeting_booked", "The visitor booked a meeting with an agent.", activity=True))
    register(EventType("booking_failed", "A booking failed because the agent's calendar service did.",
                       reported=False, client=False))


@hookimpl
def register_cards(register: Callable[[Any], Any], app: Chinwag) -> None:
    """The ``meeting`` card."""
    from .card import MeetingCard

    register(MeetingCard(app))


@hookimpl
def check_config(config: Config, app: Chinwag) -> list[Problem]:
    """Check ``agents:`` and ``meetings:``; keep the parsed settings for the app."""
    from .settings import keep_settings, parse_meeting_settings

    settings, problems = parse_meeting_settings(config, app)
    keep_settings(app, settings)
    return problems


@hookimpl
async def startup(app: Chinwag) -> None:
    """Read the agents' saved schedules, record new agents in the queue, load the token key
    (refusing to start when stored tokens cannot be read), release holds that a process which
    died mid-booking left behind, and (in a serving process) start the sweep that cancels events
    whose booking never finished."""
    from ..credentials import CredentialsKeyMissing
    from ..problems import InvalidProject
    from .agent_state import sync_agents
    from .booking import release_stale_holds
    from .reconcile import schedule_sweep
    from .schedules import refresh_schedules

    await refresh_schedules(app)
    try:
        await sync_agents(app)
    except CredentialsKeyMissing as error:
        raise InvalidProject([Problem(str(app.config.file), None, "agents", str(error))]) from error
    await release_stale_holds(app)
    schedule_sweep(app)  # runs in serving processes only, like every job of app.schedule


@hookimpl
def register_routes(register: Callable[[Any], Any], app: Chinwag) -> None:
    """The OAuth callback and the meetings admin endpoints."""
    from .oauth import oauth_routes
    from .routes import meeting_routes

    app.plugin_state(MeetingsState).serving = True  # only a serving process connects agents of mounted sandboxes
    for route in [*oauth_routes(), *meeting_routes()]:
        register(route)


@hookimpl
def register_commands(cli: Any) -> None:
    """``chinwag agents ...`` and ``chinwag meetings ...``."""
    from .commands import agents, meetings

    cli.add_command(agents)
    cli.add_command(meetings)


@hookimpl
async def forget_person(person: Any, connection: Any) -> dict[str, int]:
    """Anonymise the person's meetings: the visitor's name, email, page and session go; the agent,
    the time and the status stay (the agent's calendar and the reports need them)."""
    import sqlalchemy as sa

    from .tables import meetings

    theirs = sa.or_(sa.func.lower(meetings.c.lead_email) == person.email, meetings.c.session_id.in_(person.session_ids))
    result = await connection.execute(meetings.update().where(theirs).values(
        lead_email=None, lead_name=None, page_url=None, session_id=None))
    return {"meetings anonymised": int(result.rowcount or 0)}


@hookimpl
async def purge_expired(policy: Any, now: Any, connection: Any) -> dict[str, int]:
    """Meetings that ended ``retention.activity_days`` ago go, with their slot claims (the
    reference product keeps meeting activity 24 months)."""
    import sqlalchemy as sa

    from .tables import meeting_claims, meetings

    cutoff = policy.cutoff(policy.activity_days, now)
    if cutoff is None:
        return {"meetings": 0}
    old = sa.select(meetings.c.id).where(meetings.c.end < cutoff)
    await connection.execute(sa.delete(meeting_claims).where(meeting_claims.c.meeting_id.in_(old)))
    result = await connection.execute(sa.delete(meetings).where(meetings.c.end < cutoff))
    return {"meetings": int(result.rowcount or 0)}

"""The ``chinwag`` command line. Plugins add commands through the ``register_commands`` hook."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .plugins import PluginError, host
from .project_commands import load_project, ready_or_exit, run_with_store

PROJECT = click.argument("project", default=".", type=click.Path(file_okay=False, path_type=Path))


class ChinwagGroup(click.Group):
    """The root command group: plugins' commands join it the first time commands are looked up,
    through the same isolated hook call as every other hook (a failing plugin loses its
    commands, not the command line)."""

    _plugin_commands_added = False

    def _add_plugin_commands(self) -> None:
        if not self._plugin_commands_added:
            self._plugin_commands_added = True
            host.call("register_commands", cli=self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, plugins' included."""
        self._add_plugin_commands()
        return super().list_commands(ctx)

    # Commands that need no plugin's command: ``serve`` configures its logging first, so the
    # plugins it loads report in its log format (``--log-format json``).
    SELF_CONTAINED = frozenset({"serve"})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """One command by name, plugins' included."""
        if cmd_name not in self.SELF_CONTAINED:
            self._add_plugin_commands()
        return super().get_command(ctx, cmd_name)


@click.group(cls=ChinwagGroup)
@click.version_option(package_name="chinwag")
def cli() -> None:
    """chinwag: scripted website chat that turns visitors into leads and meetings."""


def main() -> None:
    """The ``chinwag`` console script: ``cli``, with a plugin failure in strict mode said in one line."""
    try:
        cli()
    except PluginError as error:
        click.echo(f"chinwag: {error}", err=True)
        sys.exit(1)


@cli.command()
@PROJECT
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Serving processes on this machine (more than one needs PostgreSQL).")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True, metavar="ADDRESSES",
              help="Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: addresses and networks, "
                   "comma-separated, or * (only behind a proxy that every request goes through).")
@click.option("--shutdown-timeout", default=30.0, show_default=True, type=click.FloatRange(0, 3600),
              help="On SIGTERM, seconds the turns in flight get before every chat connection is closed.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines for people, or one JSON object per line.")
@click.option("--metrics-address", default=None, metavar="HOST:PORT",
              help="Also serve the Prometheus metrics here, without the admin token (a private address).")
@click.option("--reload", is_flag=True, help="Restart when project or code files change (development).")
@click.option("--demo", is_flag=True, help="Also serve demo pages with the widget at /.")
@click.option("--migrate", is_flag=True, help="Upgrade the database schema first (chinwag db upgrade); without it a "
                                               "schema behind the code is refused, except on SQLite (database.migrate).")
def serve(project: Path, host: str, port: int, workers: int, forwarded_allow_ips: str, shutdown_timeout: float,
          log_format: str, metrics_address: str | None, reload: bool, demo: bool, migrate: bool) -> None:
    """Serve a project folder (chinwag.yaml, dialogues/). SIGTERM stops it gracefully: the turns in
    flight finish, and every visitor is sent to reconnect (see docs/deployment.md)."""
    import logging.config

    from .logs import logging_config
    from .mounted_sandboxes import exposure_problem, loopback_url
    from .serving import ServeError, ServeOptions, check_options, metrics_address as parse_metrics_address
    from .serving import serve as run_server
    from .serving import trusted_proxies

    logging.config.dictConfig(logging_config(log_format))  # what loading the project says is logged alike
    app = load_project(project)  # refuse to start on any problem, with the same messages as validate
    refusal = exposure_problem(app.config, host)
    if refusal is not None:
        click.echo(refusal, err=True)
        sys.exit(1)
    try:
        options = ServeOptions(
            host=host, port=port, workers=workers, forwarded_allow_ips=trusted_proxies(forwarded_allow_ips),
            shutdown_timeout=shutdown_timeout, log_format=log_format, demo=demo, reload=reload,
            metrics_address=parse_metrics_address(metrics_address) if metrics_address else None)
        check_options(options, app.config.database)
    except ServeError as error:
        click.echo(f"chinwag serve: {error}", err=True)
        sys.exit(2)
    ready_or_exit(app, migrate)  # once, before any worker starts: upgraded, or refused in one line
    sys.exit(run_server(project, options, loopback_url(host, port)))


@cli.command()
@PROJECT
def validate(project: Path) -> None:
    """Check chinwag.yaml and every dialogue; exit 1 naming each problem."""
    app = load_project(project)
    click.echo(f"{project}: ok, {len(app.dialogue_files)} dialogue(s): {', '.join(sorted(app.dialogue_files)) or '-'}")


@cli.command(name="config")
@PROJECT
def show_config(project: Path) -> None:
    """Print the project's chinwag.yaml as JSON, secrets redacted."""
    click.echo(json.dumps(load_project(project).config.redacted(), indent=2, default=str))


@cli.command()
@click.option("--all", "include_builtin", is_flag=True, help="Include built-in plugins.")
@click.option("--hook", default=None, help="Only plugins that implement this hook.")
@click.option("--requirements", is_flag=True, help="Include each plugin's requirements.")
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also prepare this project, so plugins failing in its hooks show as errors.")
def plugins(include_builtin: bool, hook: str | None, requirements: bool, project: Path | None) -> None:
    """List installed plugins as JSON: name, version, hooks, status."""
    if project is not None:
        from .app import Chinwag
        from .problems import InvalidProject

        try:
            Chinwag.from_project(project)
        except InvalidProject as error:  # the listing is what was asked for; the problems go to stderr
            for problem in error.problems:
                click.echo(str(problem), err=True)
    click.echo(json.dumps(host.listing(include_builtin, hook, requirements), indent=2))


@cli.command()
@PROJECT
@click.option("--dialogue", default=None, help="Only this dialogue.")
@click.option("--since", default=None, help="From this date or time (ISO 8601, UTC unless it says); default: --days ago.")
@click.option("--until", default=None, help="Up to this date or time, not included (default: now).")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 3650), help="The period, without --since.")
@click.option("--format", "output", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
def report(project: Path, dialogue: str | None, since: str | None, until: str | None, days: int, output: str,
           as_json: bool) -> None:
    """How each dialogue performs: triggered, engaged, completed, people acquired, goals, meetings,
    engagement and conversion rates; with --format json also its funnel per card, pages, versions
    and known and anonymous visitors."""
    from .report_rollup import catch_up
    from .reports import dialogue_report, period_from, report_csv, report_table, reported_event_types

    try:
        period = period_from(since, until, days, dialogue)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    async def caught_up_report(app: Any) -> dict[str, Any]:
        await catch_up(app.store, reported_event_types(app))  # what no server has rolled up yet
        return await dialogue_report(app, period)

    result = run_with_store(project, caught_up_report)
    output = "json" if as_json else output
    click.echo(json.dumps(result, indent=2) if output == "json" else
               report_csv(result) if output == "csv" else report_table(result), nl=output != "csv")


@cli.command()
@PROJECT
def purge(project: Path) -> None:
    """Delete what the project's retention policy no longer keeps (``retention:`` in chinwag.yaml:
    anonymous visitors and reporting data after 90 days, goal and meeting activity after 24
    months, by default); print how many rows of each kind went, as JSON. Serving processes do
    the same every ``retention.purge_every`` seconds."""
    from .retention import purge as purge_expired

    click.echo(json.dumps(run_with_store(project, purge_expired)))


@cli.command()
@click.argument("email")
@click.option("--project", "-p", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="The project folder.")
def forget(email: str, project: Path) -> None:
    """Remove everything stored about the person with EMAIL: visitors, sessions, transcripts,
    answers, events, queued deliveries and synced CRM records; meetings anonymised; every CRM
    connector asked to delete the person too (through the outbox). Prints what went, as JSON."""
    from .forget import ForgetFailed, forget_person, normalised_email

    try:
        normalised_email(email)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="EMAIL") from error
    try:
        counts = run_with_store(project, lambda app: forget_person(app, email))
    except ForgetFailed as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(counts))



def _add_integration_commands() -> None:
    from .db_cli import db
    from .dialogues_cli import dialogues
    from .integrations_cli import crm, outbox

    from .scaffold import new_plugin

    cli.add_command(db)
    cli.add_command(dialogues)
    cli.add_command(outbox)
    cli.add_command(crm)
    cli.add_command(new_plugin)


_add_integration_commands()

"""The plugin's hooks: the connector, its attributes and settings, the sandbox and the commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import attrs
from chinwag import hookimpl
from chinwag.attributes import Attribute
from chinwag.default_attributes import STANDARD
from chinwag.mounted_sandboxes import mount_sandbox, private_client, sandbox_path, sandbox_url
from chinwag.problems import Problem
from chinwag.shared_limits import SharedLimiter

from .client import QUOTA_ZONE
from .connector import MarketoConnector
from .settings import PLUGIN_NAME, MarketoSettings, config_problems

if TYPE_CHECKING:
    from chinwag.app import Chinwag
    from chinwag.config import Config


@attrs.define
class MarketoState:
    """Per app: the sandbox served in process (with ``sandbox: true``)."""

    sandbox: Any = None


def settings_of(app: Chinwag) -> MarketoSettings | None:
    """The project's Marketo settings, or None when the plugin is not configured."""
    config = app.config.plugin_config(PLUGIN_NAME)
    if not config:
        return None
    if config.get("sandbox") is True:
        from . import sandbox

        state = app.plugin_state(MarketoState)
        if state.sandbox is None:
            state.sandbox = private_client(sandbox.new_state())
            sandbox.seed_demo(state.sandbox)
        config = {**config, **sandbox.plugin_config(sandbox_url(app, PLUGIN_NAME), state.sandbox)}
    return MarketoSettings.from_config(config)


def connector_of(app: Chinwag) -> MarketoConnector | None:
    """The registered connector, if the project configures Marketo."""
    connector = app.crm_connectors.get(MarketoConnector.name)
    return connector if isinstance(connector, MarketoConnector) else None


@hookimpl
def register_crm_connectors(register: Callable[[Any], Any], app: Chinwag) -> None:
    """The connector, when ``plugins: marketo`` is configured."""
    settings = settings_of(app)
    if settings is None:
        return

    def limiter(purpose: str, calls: int) -> SharedLimiter:  # the store opens after registration, at startup
        assert app.store is not None, "the app has not started"
        # Lookups are short and few at a time; write-back and sync keep the configured concurrency.
        concurrency = min(2, settings.concurrency) if purpose == "lookups" else settings.concurrency
        return SharedLimiter(app.store, f"marketo:{purpose}:{settings.base_url}", calls=calls,
                             per_seconds=settings.rate_window, concurrency=concurrency,
                             call_timeout=settings.timeout * 2, day_zone=QUOTA_ZONE)

    register(MarketoConnector(settings, limiter))


@hookimpl
def register_attributes(register: Callable[[Attribute], Any], app: Chinwag) -> None:
    """``person.<field>`` and ``company.<field>`` for the synced fields (core's own names excepted)."""
    config = app.config.plugin_config(PLUGIN_NAME)
    if not config or config_problems(config, str(app.config.file)):
        return  # check_config reports why
    settings = MarketoSettings.from_config(config)
    taken = {attribute.name for attribute in STANDARD} | {spec.name for spec in app.config.attributes}
    for prefix, fields in (("person.", settings.person_fields), ("company.", settings.company_fields)):
        for field in fields:
            if prefix + field not in taken:
                register(Attribute(prefix + field, "string", f"Marketo {field}"))


@hookimpl
def check_config(config: Config) -> list[Problem]:
    """Problems in ``plugins: marketo``, with their lines."""
    source = (config.raw.get("plugins") or {}).get(PLUGIN_NAME)
    return config_problems(config.plugin_config(PLUGIN_NAME), str(config.file), source)


@hookimpl
def register_routes(register: Callable[[Any], Any], app: Chinwag) -> None:
    """With ``sandbox: true``, the Marketo stand-in at ``/-/sandbox/marketo`` (the offline demo; its
    ``/_sandbox`` control routes need the admin token)."""
    state = app.plugin_state(MarketoState)
    if state.sandbox is not None:
        from starlette.routing import Route

        from .sandbox import create_sandbox

        register(Route(f"{sandbox_path(PLUGIN_NAME)}/known-visitor", be_the_known_visitor, methods=["GET"]))
        register(mount_sandbox(app, PLUGIN_NAME, create_sandbox(state.sandbox)))


async def be_the_known_visitor(request: Any) -> Any:
    """The demo: carry the Munchkin cookie of the person the stand-in knows, then go to the home page."""
    from starlette.responses import RedirectResponse

    from .sandbox import DEMO_COOKIE

    response = RedirectResponse("/", status_code=303)
    # Munchkin's cookie is readable by the page's scripts (the widget reads it), as on a real site.
    response.set_cookie("_mkto_trk", DEMO_COOKIE, max_age=3600, path="/", httponly=False, samesite="lax")
    return response


@hookimpl
def register_commands(cli: Any) -> None:
    """``chinwag marketo setup|status|sync``."""
    from .commands import marketo

    cli.add_command(marketo)


@hookimpl
def startup(app: Chinwag) -> None:
    """With ``sandbox: true``, the stand-in starts with chinwag's custom activity types approved, as
    if an admin had run ``chinwag marketo setup`` (the server does not listen yet, so this is done
    on the sandbox's state directly)."""
    connector, state = connector_of(app), app.plugin_state(MarketoState)
    if connector is None or state.sandbox is None:
        return
    from .commands import ACTIVITY_TYPES, PRIMARY

    log = state.sandbox.activity_log
    for role, spec in ACTIVITY_TYPES.items():
        api_name = connector.settings.activity_types[role]
        if api_name in log.types:
            continue
        log.create_type({"apiName": api_name, "name": spec["name"], "triggerName": spec["triggerName"],
                         "filterName": spec["filterName"], "primaryAttribute": PRIMARY})
        log.add_attributes(api_name, [{"apiName": name, "name": label, "dataType": "string"}
                                      for name, label in spec["attributes"]])
        log.approve_type(api_name)


@hookimpl
async def shutdown(app: Chinwag) -> None:
    """Close the connector's HTTP client."""
    connector = connector_of(app)
    if connector is not None:
        await connector.close()


@hookimpl
async def crm_sync_status(app: Chinwag) -> list[Any] | None:
    """The pull's phase from the stored cursor: the initial bulk export (windows done, up to when)
    or incremental paging, with records stored and the last error; nothing is asked of Marketo."""
    from chinwag.crm import SyncStatus
    from chinwag.crm_records import sync_state

    from .bulk_sync import BulkCursor

    if connector_of(app) is None or app.store is None:
        return None
    stored = await sync_state(app.store, PLUGIN_NAME)
    if stored is None:
        return [SyncStatus(PLUGIN_NAME, "not_started", "No lead has been pulled from Marketo yet.")]
    details = {"Records stored": str(stored["rows"]), "Last pull": stored["updated_at"]}
    bulk = BulkCursor.load(stored["cursor"])
    if bulk is not None:
        details["Leads exported up to"] = bulk.window_end.isoformat()
        details["Activities stored"] = str(bulk.activities_rows)
    if stored["last_error"]:
        details["Last error"] = stored["last_error"]
        return [SyncStatus(PLUGIN_NAME, "failing", "The last pull from Marketo failed; it is retried.", details)]
    if bulk is not None:
        return [SyncStatus(PLUGIN_NAME, "syncing", f"Initial bulk export: {bulk.windows_done} window(s) of leads "
                                                   f"done, up to {bulk.window_end.date().isoformat()}.", details)]
    return [SyncStatus(PLUGIN_NAME, "ok", "Incremental: new and changed leads are pulled as they change.", details)]

"""The application object every hook receives: configuration, registries, store and dialogues."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any, TypeVar

import jinja2
import sqlalchemy as sa

from . import abuse_limits, crm_records, outbox, publishing, report_rollup, schedule, shared_limits, tables
from .config import Config, read_config
from .crm_delivery import CrmDelivery
from .crm_schedule import schedule_crm_pulls
from .dialogue import Dialogue
from .events import EventDispatcher
from .metrics import Metrics
from .monthly_cap import MonthlyCap
from .outbox_worker import OutboxPolicy, OutboxWorker
from .plugins import PluginError, PluginHost, Registry, host
from .problems import InvalidProject, Problem
from .publishing import Publisher
from .retention import schedule_purge
from .schedule import Schedule
from .session import Conversations
from .store import Store
from .turn_writer import TurnWriter

log = logging.getLogger("chinwag")

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

PluginState = TypeVar("PluginState")


def core_metadata() -> tuple[sa.MetaData, ...]:
    """Core's own table declarations (the ``chinwag`` migration source owns every table in them)."""
    return (tables.metadata, outbox.outbox_metadata, crm_records.metadata, shared_limits.metadata,
            schedule.metadata, report_rollup.metadata, abuse_limits.metadata, publishing.metadata)


class Chinwag:
    """One served project: everything a request, a session or a plugin needs to reach."""

    def __init__(self, config: Config, plugins: PluginHost = host, served_at: str | None = None) -> None:
        self.config = config
        # The loopback URL this process listens at, when serving (the server reaches its own
        # mounted sandboxes there); None for commands.
        self.served_at = served_at
        self.plugins = plugins
        self.cards = Registry("card type")
        self.attributes = Registry("attribute")
        self.calendar_providers = Registry("calendar provider")
        self.routing_strategies = Registry("routing strategy")
        self.crm_connectors = Registry("CRM connector")
        self.outbox_consumers = Registry("outbox consumer")
        self.notifiers = Registry("notifier")
        self.event_types = Registry("event type")
        self.config_sections = Registry("configuration section")
        self.tables = Registry("table")
        self.migration_sources = Registry("migration source")
        self.metadata = sa.MetaData()  # this app's schema: core's tables and its plugins'
        self.dialogue_files: dict[str, Dialogue] = {}  # the project folder's dialogues (working copies)
        self.dialogues: dict[str, Dialogue] = {}  # what visitors get: the published versions (``publisher``)
        self.theme: dict[str, Any] = {}
        self.store: Store | None = None
        self.turn_writer: TurnWriter | None = None
        self.outbox_worker: OutboxWorker | None = None
        self.metrics = Metrics()  # this app's Prometheus metrics (served at /-/metrics)
        self._outbox_gauges: asyncio.Task[None] | None = None
        self.schedule = Schedule(lambda: self.store)  # background jobs of serving processes
        self.monthly_cap = MonthlyCap(self)
        self.publisher = Publisher(self)
        self.templates = jinja2.Environment(
            loader=jinja2.ChoiceLoader([
                jinja2.FileSystemLoader(str(config.templates_dir)),
                jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
            ]),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        )
        self._plugin_states: dict[type, Any] = {}
        self.events = EventDispatcher(self)
        self.conversations = Conversations(self)

    @classmethod
    def from_project(cls, project_dir: Path | str, plugins: PluginHost = host, served_at: str | None = None) -> Chinwag:
        """Read a project folder and fill the registries; raise ``InvalidProject`` naming every problem
        (chinwag.yaml's, the plugins' and the dialogues'). ``served_at``: see ``Chinwag.served_at``."""
        config, problems = read_config(project_dir)
        app = cls(config, plugins, served_at)
        app.prepare(problems)
        return app

    def plugin_state(self, kind: type[PluginState]) -> PluginState:
        """This app's instance of a plugin's state class, made with ``kind()`` on first use.

        Plugins keep per-app data here, typed by their own class instead of string keys:
        ``app.plugin_state(MeetingsState).settings``.
        """
        if kind not in self._plugin_states:
            self._plugin_states[kind] = kind()
        return self._plugin_states[kind]

    def prepare(self, problems: list[Problem] | None = None) -> None:
        """Fill every registry, build the schema and the theme, and load and validate the dialogues.

        ``problems`` already found (in chinwag.yaml) are reported with the rest.
        """
        from .theme import default_theme
        from .validation import check_project

        for hook_name, registry in (
            ("register_config_sections", self.config_sections),
            ("register_event_types", self.event_types),
            ("register_tables", self.tables),
            ("register_migrations", self.migration_sources),
            ("register_cards", self.cards),
            ("register_attributes", self.attributes),
            ("register_calendar_providers", self.calendar_providers),
            ("register_routing_strategies", self.routing_strategies),
            ("register_crm_connectors", self.crm_connectors),
            ("register_notifiers", self.notifiers),
            ("register_outbox_consumers", self.outbox_consumers),
        ):
            self.plugins.collect(hook_name, registry, app=self)
        self._add_crm_deliveries()
        self._build_schema()
        self.theme = default_theme(self.config)
        self.plugins.call("prepare_theme", theme=self.theme, app=self)
        problems = [*(problems or []), *self.config.unknown_sections(set(self.config_sections.names()))]
        dialogues, dialogue_problems = check_project(self)
        problems += dialogue_problems + self.plugin_problems()
        if problems:
            raise InvalidProject(problems)
        self.dialogue_files = dialogues

    async def _outbox_items_died(self, connection: Any, consumer: str, count: int, error: str) -> None:
        """Tell the notifiers (but the one whose items died) that a consumer's items are dead."""
        from .notifications import OUTBOX_DEAD, Notification
        from .notifications.delivery import enqueue_notification
        from .store import utcnow

        now = utcnow()
        await enqueue_notification(connection, self, Notification(
            OUTBOX_DEAD, f"dead-{consumer}-{now.strftime('%Y%m%dT%H%M%S%f')}", now, None,
            {"consumer": consumer, "count": count, "reason": error[:500]}), exclude=(consumer,))

    def _add_crm_deliveries(self) -> None:
        """Every CRM connector is an outbox consumer too, under its own name."""
        for connector in self.crm_connectors:
            plugin = self.crm_connectors.plugin_of(connector.name)
            try:
                self.outbox_consumers.add(CrmDelivery(connector, self.metrics), plugin)
            except Exception as error:  # e.g. a consumer of the same name: isolated like any hook failure
                self.plugins.failed(plugin, "register_crm_connectors", error)

    def _build_schema(self) -> None:
        """Copy core's tables and every registered table into this app's ``metadata``."""
        for declared in core_metadata():
            for table in declared.tables.values():
                table.to_metadata(self.metadata)
        for table in self.tables:
            if table.name in self.metadata.tables:  # isolated like any other failure of the hook
                plugin = self.tables.plugin_of(table.name)
                self.plugins.failed(plugin, "register_tables", PluginError(
                    f"plugin {plugin} registered table {table.name!r}, which core already has"))
                continue
            table.to_metadata(self.metadata)

    def known_dialogues(self) -> dict[str, Dialogue]:
        """Every dialogue this process knows, by id: the published version of each published one,
        the project file's of the others (drafts and unpublished ones)."""
        return {**self.dialogue_files, **self.dialogues}

    def plugin_problems(self) -> list[Problem]:
        """Problems plugins find in their configuration (the ``check_config`` hook)."""
        problems: list[Problem] = []
        for _, result in self.plugins.call("check_config", config=self.config, app=self):
            problems.extend(result or [])
        return problems

    async def start(self, migrate: bool | None = None) -> None:
        """Open the store, make sure the schema is at every migration source's head (upgrading it
        when ``migrate``, or when ``chinwag.schema_policy.should_migrate`` says so if None) and run
        the ``startup`` hooks. Raises ``SchemaNotReady`` on a schema it may not upgrade."""
        from .schema_policy import ready_schema

        self.store = Store(self.config.database, self.metadata)
        self.outbox_worker = OutboxWorker(self.store, {consumer.name: consumer for consumer in self.outbox_consumers},
                                          OutboxPolicy(**self.config.outbox), on_dead=self._outbox_items_died,
                                          metrics=self.metrics)
        self.turn_writer = TurnWriter(self.store, on_commit=self.outbox_worker.notify, metrics=self.metrics)
        await ready_schema(self, migrate)
        await self.publisher.record_versions()
        await self.publisher.refresh(force=True)
        for plugin_name, _ in await self.plugins.acall("startup", app=self):
            log.debug("started plugin %s", plugin_name)

    def deliver(self) -> None:
        """Start the background work of a serving process (commands do not): delivering the outbox,
        the scheduled CRM syncs, the retention purge, the report roll-up and the outbox's gauges."""
        assert self.outbox_worker is not None and self.store is not None, "the app has not started"
        if len(self.outbox_consumers):
            self.outbox_worker.start()
            self._outbox_gauges = asyncio.get_running_loop().create_task(
                self.metrics.watch_outbox(self.store, self.outbox_consumers.names()), name="outbox-gauges")
        schedule_crm_pulls(self)
        schedule_purge(self)
        report_rollup.schedule_roll_up(self)
        self.schedule.start()

    async def stop(self) -> None:
        """Flush the turn writer, stop delivering (a batch under way is settled first), run the
        ``shutdown`` hooks and close the store."""
        if self.turn_writer is not None:
            await self.turn_writer.close()
        if self._outbox_gauges is not None:
            self._outbox_gauges.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._outbox_gauges
        await self.schedule.stop()
        if self.outbox_worker is not None:
            # Settles the batch being delivered, then releases its leases: another process takes over at once.
            await self.outbox_worker.stop(grace=self.outbox_worker.policy.delivery_timeout)
        await self.events.drain()
        await self.plugins.acall("shutdown", app=self)
        if self.store is not None:
            await self.store.close()

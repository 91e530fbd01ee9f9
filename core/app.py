"""The application object every hook receives: configuration, registries, store and dialogues."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jinja2

from .config import Config, load_config
from .dialogue import Dialogue
from .plugins import PluginHost, Registry, host
from .events import EventDispatcher
from .problems import InvalidProject, Problem
from .session import Conversations
from .store import Store
from .turn_writer import TurnWriter

log = logging.getLogger("chinwag")

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


class Chinwag:
    """One served project: everything a request, a session or a plugin needs to reach."""

    def __init__(self, config: Config, plugins: PluginHost = host) -> None:
        self.config = config
        self.plugins = plugins
        self.cards = Registry("card type")
        self.attributes = Registry("attribute")
        self.calendar_providers = Registry("calendar provider")
        self.routing_strategies = Registry("routing strategy")
        self.crm_connectors = Registry("CRM connector")
        self.dialogues: dict[str, Dialogue] = {}
        self.theme: dict[str, Any] = {}
        self.store: Store | None = None
        self.turn_writer: TurnWriter | None = None
        self.templates = jinja2.Environment(
            loader=jinja2.ChoiceLoader([
                jinja2.FileSystemLoader(str(config.templates_dir)),
                jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
            ]),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        )
        self.state: dict[str, Any] = {}  # per-app scratch space for plugins, keyed by plugin name
        self.events = EventDispatcher(self)
        self.conversations = Conversations(self)

    @classmethod
    def from_project(cls, project_dir: Path | str, plugins: PluginHost = host) -> Chinwag:
        """Read a project folder and fill the registries; raise ``InvalidProject`` on any problem."""
        app = cls(load_config(project_dir), plugins)
        app.prepare()
        return app

    def prepare(self) -> None:
        """Fill every registry, build the theme and load and validate the dialogues."""
        from .theme import default_theme
        from .validation import check_project

        for hook_name, registry in (
            ("register_cards", self.cards),
            ("register_attributes", self.attributes),
            ("register_calendar_providers", self.calendar_providers),
            ("register_routing_strategies", self.routing_strategies),
            ("register_crm_connectors", self.crm_connectors),
        ):
            self.plugins.collect(hook_name, registry, app=self)
        self.theme = default_theme(self.config)
        self.plugins.hook.prepare_theme(theme=self.theme, app=self)
        dialogues, problems = check_project(self)
        problems += self.plugin_problems()
        if problems:
            raise InvalidProject(problems)
        self.dialogues = dialogues

    def plugin_problems(self) -> list[Problem]:
        """Problems plugins find in their configuration (the ``check_config`` hook)."""
        problems: list[Problem] = []
        for result in self.plugins.hook.check_config(config=self.config, app=self):
            problems.extend(result or [])
        return problems

    async def start(self) -> None:
        """Open the store, create tables and run the ``startup`` hooks."""
        from .tables import metadata

        self.plugins.hook.register_tables(metadata=metadata)
        self.store = Store(self.config.database)
        self.turn_writer = TurnWriter(self.store)
        await self.store.create_schema()
        await self.conversations.publish()
        for plugin_name, _ in await self.plugins.call_each("startup", isolate=False, app=self):
            log.debug("started plugin %s", plugin_name)

    async def stop(self) -> None:
        """Run the ``shutdown`` hooks and close the store."""
        if self.turn_writer is not None:
            await self.turn_writer.close()
        await self.events.drain()
        await self.plugins.call_each("shutdown", app=self)
        if self.store is not None:
            await self.store.close()

"""The plugin manager: built-in plugins, entry points, switches, isolation and the listing.

Every hook is called through one path (``PluginHost.call`` and its async twin ``acall``): each
implementation separately, its result awaited whatever it is (value, callable or coroutine), and
a failure isolated to its plugin, which the listing then shows as ``error: <hook>: <message>``.

Environment switches:

* ``CHINWAG_LOAD_PLUGINS``: comma-separated distribution names; only these entry-point plugins
  load (set but empty: none do). Built-in plugins are not affected.
* ``CHINWAG_DISABLE_PLUGINS``: comma-separated names (distributions or built-in modules) to block.
* ``CHINWAG_STRICT_PLUGINS=1``: a broken plugin, or a plugin failing in any hook, is fatal
  (``PluginError``, which the command line prints as one line before exiting 1).
* ``CHINWAG_TRACE_PLUGINS=1``: log every hook call and its result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import inspect
import logging
import os
import threading
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any

import attrs
import pluggy

from . import hookspecs

log = logging.getLogger("chinwag.plugins")

ENTRY_POINT_GROUP = "chinwag"

# Built-in behaviour, written as plugins so any of it can be blocked or replaced.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "chinwag.default_cards",
    "chinwag.default_attributes",
    "chinwag.default_events",
    "chinwag.migrations",
    "chinwag.targeting.plugin",
    "chinwag.languages.plugin",
    "chinwag.meetings.plugin",
    "chinwag.notifications.plugin",
)


class PluginError(Exception):
    """A plugin could not be loaded, registered something invalid, or failed in a hook."""


@attrs.define
class PluginRecord:
    """What the listing says about one plugin."""

    name: str
    version: str | None
    status: str = "active"
    builtin: bool = False
    plugin: object | None = None


def _env_names(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _strict() -> bool:
    return os.environ.get("CHINWAG_STRICT_PLUGINS", "") not in ("", "0", "false")


class PluginHost:
    """A pluggy manager plus the bookkeeping chinwag needs: records, switches, collection."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("chinwag")
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self._loaded = False
        self.trace = False
        self._lock = threading.Lock()
        # hook name -> its implementations, found once after loading (each turn asks for some);
        # forgotten whenever a plugin is added or removed.
        self._implementations: dict[str, tuple[tuple[str, Callable[..., Any], list[str]], ...]] = {}

    # -- loading -------------------------------------------------------------------------------

    def load(self) -> None:
        """Load built-in and entry-point plugins once; later calls do nothing."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            blocked = _env_names("CHINWAG_DISABLE_PLUGINS") or set()
            for name in blocked:
                self.pm.set_blocked(name)
            from . import __version__

            for module_name in DEFAULT_PLUGINS:
                if module_name in blocked:
                    continue
                module = importlib.import_module(module_name)
                self._add(PluginRecord(module_name, __version__, builtin=True), module)
            self._load_entry_points(blocked)
            self.trace = os.environ.get("CHINWAG_TRACE_PLUGINS", "") not in ("", "0", "false")
            if self.trace:
                self.pm.add_hookcall_monitoring(_trace_before, _trace_after)

    def _load_entry_points(self, blocked: set[str]) -> None:
        allowed = _env_names("CHINWAG_LOAD_PLUGINS")
        for entry_point in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = entry_point.dist
            name = dist.metadata["Name"] if dist is not None else entry_point.name
            version = dist.version if dist is not None else None
            if name in blocked or (allowed is not None and name not in allowed):
                continue
            record = PluginRecord(name, version)
            try:
                plugin = entry_point.load()
            except Exception as error:  # a broken plugin must not take chinwag down
                self._broken(record, f"import failed: {type(error).__name__}: {error}", error)
                continue
            self._add(record, plugin)

    def _add(self, record: PluginRecord, plugin: object) -> None:
        """Register ``plugin``; report and skip it when it is invalid (unless strict)."""
        self._implementations.clear()
        try:
            self.pm.register(plugin, name=record.name)
        except Exception as error:
            self._broken(record, f"invalid plugin: {error}", error)
            return
        unknown = [caller.name for caller in self.pm.get_hookcallers(plugin) or [] if not caller.has_spec()]
        if unknown:
            self.pm.unregister(plugin)
            message = f"unknown hook {', '.join(sorted(unknown))}: no such hook in chinwag (misspelled?)"
            self._broken(record, message, PluginError(f"{record.name}: {message}"))
            return
        record.plugin = plugin
        self.records[record.name] = record

    def _broken(self, record: PluginRecord, message: str, error: Exception) -> None:
        record.status = f"error: {message}"
        self.records[record.name] = record
        log.error("plugin %s %s skipped: %s", record.name, record.version or "", message)
        if _strict():
            raise PluginError(f"plugin {record.name} {record.version or ''}: {message}") from error

    def register_temporarily(self, plugin: object, name: str) -> None:
        """Register an in-process plugin (tests and examples); undo with ``unregister``."""
        self.load()
        self._add(PluginRecord(name, None), plugin)
        if self.records[name].status != "active":
            raise PluginError(f"plugin {name}: {self.records[name].status}")

    def unregister(self, name: str) -> None:
        """Remove a plugin registered with ``register_temporarily``."""
        record = self.records.pop(name, None)
        if record is not None and record.plugin is not None:
            self._implementations.clear()
            self.pm.unregister(record.plugin)

    # -- calling ----------------------------------------------------------------------------------

    @property
    def hook(self) -> Any:
        """The pluggy hook relay, after loading (for introspection; call hooks with ``call``)."""
        self.load()
        return self.pm.hook

    def implementations(self, hook_name: str) -> tuple[tuple[str, Callable[..., Any], list[str]], ...]:
        """(plugin name, function, argument names) for a hook, in call order (found once per hook
        until a plugin is added or removed)."""
        found = self._implementations.get(hook_name)
        if found is None:
            self.load()
            caller = getattr(self.pm.hook, hook_name)
            found = tuple((impl.plugin_name, impl.function, list(impl.argnames) + list(impl.kwargnames))
                          for impl in reversed(caller.get_hookimpls()))
            self._implementations[hook_name] = found
        if self.trace:
            log.warning("hook %s -> %s", hook_name, [plugin_name for plugin_name, _, _ in found])
        return found

    def call(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of a hook, from synchronous code; return (plugin, result) pairs.

        A coroutine an implementation returns is run to completion (on a private event loop, in a
        worker thread when this thread already runs one). A failing implementation is isolated:
        see ``failed``.
        """
        results = []
        for plugin_name, function, argnames in self.implementations(hook_name):
            try:
                value = _resolve_sync(function(**{name: kwargs[name] for name in argnames}))
            except Exception as error:
                self.failed(plugin_name, hook_name, error)
                continue
            results.append((plugin_name, value))
        return results

    async def acall(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """``call`` for asynchronous code: each result is awaited on the running loop."""
        results = []
        for plugin_name, function, argnames in self.implementations(hook_name):
            try:
                value = await await_me_maybe(function(**{name: kwargs[name] for name in argnames}))
            except Exception as error:
                self.failed(plugin_name, hook_name, error)
                continue
            results.append((plugin_name, value))
        return results

    def failed(self, plugin_name: str, hook_name: str, error: Exception) -> None:
        """Record that a plugin failed in a hook; the other plugins go on.

        The listing shows the plugin as ``error: <hook>: <message>`` (its first failure). A plugin's
        deliberate refusal to run the project (``InvalidProject``) is not a failure and propagates,
        and so does everything in strict mode, as a ``PluginError`` of one line.
        """
        from .problems import InvalidProject

        if isinstance(error, InvalidProject):
            raise error
        message = f"{hook_name}: {_describe(error)}"
        record = self.records.get(plugin_name)
        if record is not None and record.status == "active":
            record.status = f"error: {message}"
        if _strict():
            raise PluginError(f"plugin {plugin_name}: {message}") from error
        log.error("plugin %s failed in hook %s", plugin_name, message, exc_info=error)

    def collect(self, hook_name: str, registry: Registry, **kwargs: Any) -> Registry:
        """Fill ``registry`` from a ``register_*`` hook, stamping each object with its plugin.

        Each implementation gets its own ``register`` callback; one that fails (or registers
        something invalid, such as a duplicate name) is isolated like any hook failure.
        """
        for plugin_name, function, argnames in self.implementations(hook_name):
            arguments = dict(kwargs, register=registry.register_for(plugin_name))
            try:
                _resolve_sync(function(**{name: arguments[name] for name in argnames}))
            except Exception as error:
                self.failed(plugin_name, hook_name, error)
        return registry

    # -- listing ----------------------------------------------------------------------------------

    def listing(self, include_builtin: bool = False, hook: str | None = None, requirements: bool = False) -> list[dict[str, Any]]:
        """Sorted plugin descriptions: name, version, hooks, status (and requirements on request)."""
        self.load()
        entries = []
        for record in self.records.values():
            if record.builtin and not include_builtin:
                continue
            hooks = sorted(caller.name for caller in self.pm.get_hookcallers(record.plugin) or []) if record.plugin else []
            if hook is not None and hook not in hooks:
                continue
            entry: dict[str, Any] = {"name": record.name, "version": record.version, "hooks": hooks, "status": record.status}
            if requirements:
                entry["requirements"] = _requirements(record)
            entries.append(entry)
        return sorted(entries, key=lambda entry: entry["name"])


def _requirements(record: PluginRecord) -> list[str]:
    if record.builtin:
        return []
    try:
        return sorted(metadata.distribution(record.name).requires or [])
    except metadata.PackageNotFoundError:
        return []


class Registry:
    """Named objects registered by plugins; each remembers the plugin that registered it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._objects: dict[str, Any] = {}
        self._plugins: dict[str, str] = {}

    def register_for(self, plugin_name: str) -> Callable[[Any], Any]:
        """The ``register`` callback handed to one plugin's implementation."""

        def register(obj: Any) -> Any:
            self.add(obj, plugin_name)
            return obj

        return register

    def add(self, obj: Any, plugin_name: str) -> None:
        """Add ``obj`` under ``obj.name``; a duplicate name is a ``PluginError`` naming both plugins."""
        name = getattr(obj, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin_name} registered a {self.kind} without a name: {obj!r}")
        if name in self._objects:
            raise PluginError(
                f"plugin {plugin_name} registered {self.kind} {name!r}, "
                f"which plugin {self._plugins[name]} already registered"
            )
        self._objects[name] = obj
        self._plugins[name] = plugin_name

    def plugin_of(self, name: str) -> str:
        """The name of the plugin that registered ``name``."""
        return self._plugins[name]

    def get(self, name: str) -> Any:
        """The object registered as ``name``, or None."""
        return self._objects.get(name)

    def __getitem__(self, name: str) -> Any:
        return self._objects[name]

    def __contains__(self, name: object) -> bool:
        return name in self._objects

    def __iter__(self) -> Iterator[Any]:
        return iter(self._objects.values())

    def __len__(self) -> int:
        return len(self._objects)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._objects)


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _resolve_sync(value: Any) -> Any:
    """``await_me_maybe`` for synchronous callers."""
    if callable(value):
        value = value()
    if not inspect.isawaitable(value):
        return value

    async def wait() -> Any:
        return await value

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    # This thread runs an event loop already (a test, or uvicorn building the app): use another.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, wait()).result()


async def await_me_maybe(value: Any) -> Any:
    """Return ``value``; call it if callable, await it if awaitable (both, in that order)."""
    if callable(value):
        value = value()
    if inspect.isawaitable(value):
        value = await value
    return value


def _trace_before(hook_name: str, hook_impls: list, kwargs: dict) -> None:
    log.warning("hook %s -> %s", hook_name, [impl.plugin_name for impl in hook_impls])


def _trace_after(outcome: Any, hook_name: str, hook_impls: list, kwargs: dict) -> None:
    log.warning("hook %s returned %r", hook_name, outcome.get_result() if outcome.exception is None else outcome.exception)


host = PluginHost()

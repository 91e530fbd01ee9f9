"""Implements every hook; raises in the one named by ``RAISING_PLUGIN_HOOK`` (none when unset).

The tests of plugin isolation run real ``chinwag`` processes with this distribution installed.
"""

from __future__ import annotations

import os
from typing import Any

from chinwag import hookimpl


def _maybe_raise(hook: str) -> None:
    if os.environ.get("RAISING_PLUGIN_HOOK") == hook:
        raise RuntimeError(f"raising plugin was told to fail in {hook}")


@hookimpl
def register_cards(register: Any) -> None:
    """Registers nothing."""
    _maybe_raise("register_cards")


@hookimpl
def register_commands(cli: Any) -> None:
    """Registers nothing."""
    _maybe_raise("register_commands")


@hookimpl
def check_config(config: Any) -> list[Any]:
    """Finds nothing wrong."""
    _maybe_raise("check_config")
    return []


@hookimpl
async def startup(app: Any) -> None:
    """Starts nothing."""
    _maybe_raise("startup")


@hookimpl
def register_routes(register: Any) -> None:
    """Registers no route."""
    _maybe_raise("register_routes")


@hookimpl
async def forget_person(person: Any) -> None:
    """Stores nothing about anyone."""
    _maybe_raise("forget_person")


@hookimpl
async def purge_expired(policy: Any) -> None:
    """Keeps nothing to purge."""
    _maybe_raise("purge_expired")


@hookimpl
def register_notifiers(register: Any) -> None:
    """Registers no notifier."""
    _maybe_raise("register_notifiers")

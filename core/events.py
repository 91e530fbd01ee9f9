"""Activity events: what happened in a conversation, stored and handed to ``chat_event`` hooks.

Which events exist is up to plugins (``register_event_types``): core's own are registered by
the built-in plugin ``chinwag.default_events``, the meeting card's by ``chinwag.meetings.plugin``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import attrs

from .random_ids import token

if TYPE_CHECKING:
    from .app import Chinwag

log = logging.getLogger("chinwag.events")


@attrs.frozen
class EventType:
    """A kind of activity event.

    ``reported``: counted per dialogue in reports. ``client``: sent to the visitor's widget as an
    ``event`` frame, so the host page's analytics can hear of it (without the visitor's answers).
    ``activity``: kept as long as ``retention.activity_days`` (24 months by default, like the
    reference product's goal and meeting activity) instead of ``retention.reporting_days``.
    """

    name: str
    description: str = ""
    reported: bool = True
    client: bool = True
    activity: bool = False


class UnknownEventType(Exception):
    """A card emitted an event type no plugin registered."""


def new_event_key() -> str:
    """A unique, unguessable event id: the idempotency key remote systems receive."""
    return f"e_{token()}"


@attrs.frozen
class ChatEvent:
    """One activity event. ``key`` is its unique id, which outbound deliveries carry as their
    idempotency key. The meaning of ``name`` is its ``EventType``'s (``app.event_types``)."""

    key: str
    name: str
    session_id: str
    visitor_id: str
    dialogue_id: str
    dialogue_name: str
    page_url: str | None
    data: dict[str, Any]
    created_at: dt.datetime

    def row(self) -> dict[str, Any]:
        """The ``events`` table row."""
        return {"key": self.key, "name": self.name, "session_id": self.session_id, "visitor_id": self.visitor_id,
                "dialogue_id": self.dialogue_id, "data": {**self.data, "page_url": self.page_url},
                "created_at": self.created_at}

    def client_frame(self) -> dict[str, Any]:
        """The ``event`` frame sent to the visitor's client."""
        return {"type": "event", "name": self.name, "session": self.session_id,
                "dialogue": {"id": self.dialogue_id, "name": self.dialogue_name}, "data": _public(self.data)}


def _public(data: dict[str, Any]) -> dict[str, Any]:
    # The visitor's own answers are not echoed in analytics payloads a host page may log.
    return {key: value for key, value in data.items() if key not in ("value", "email")}


class EventDispatcher:
    """Hands stored events to ``chat_event`` observers without delaying the chat."""

    def __init__(self, app: Chinwag) -> None:
        self.app = app
        self._tasks: set[asyncio.Task[None]] = set()

    def dispatch(self, events: list[ChatEvent]) -> None:
        """Notify observers in the background; a failing observer is logged and skipped."""
        if not events or not self.app.plugins.implementations("chat_event"):
            return
        task = asyncio.get_running_loop().create_task(self._notify(events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, events: list[ChatEvent]) -> None:
        for event in events:
            await self.app.plugins.acall("chat_event", event=event, app=self.app)

    async def drain(self) -> None:
        """Wait for notifications under way (at shutdown, and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

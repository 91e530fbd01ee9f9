"""Activity events: what happened in a conversation, stored and handed to ``chat_event`` hooks."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import attrs

log = logging.getLogger("chinwag.events")

EVENT_NAMES = ("triggered", "engaged", "answered", "lead_captured", "goal_reached", "completed", "meeting_booked")
# Events the client is told about, so the widget can pass them on to the host page's analytics.
CLIENT_EVENTS = frozenset({"triggered", "engaged", "lead_captured", "goal_reached", "completed", "meeting_booked"})


@attrs.frozen
class ChatEvent:
    """One activity event, with the reference product's meaning.

    triggered: the dialogue was shown; engaged: the first answer; answered: any answer;
    lead_captured: a valid email was given; goal_reached: a goal card was passed;
    completed: the end of any branch; meeting_booked: a meeting was booked.
    """

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
        return {"name": self.name, "session_id": self.session_id, "visitor_id": self.visitor_id,
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

    def __init__(self, app: Any) -> None:
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
            await self.app.plugins.call_each("chat_event", event=event, app=self.app)

    async def drain(self) -> None:
        """Wait for notifications under way (at shutdown, and in tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

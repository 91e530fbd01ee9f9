"""Built-in event types: the reference product's activity, written as a plugin like any other."""

from __future__ import annotations

from typing import Any, Callable

from .events import EventType
from .hookspecs import hookimpl

CORE_EVENT_TYPES = (
    EventType("triggered", "The dialogue was shown to the visitor."),
    EventType("engaged", "The visitor gave their first answer."),
    EventType("answered", "The visitor answered a question or capture.", reported=False, client=False),
    EventType("lead_captured", "The visitor gave a valid email address."),
    EventType("goal_reached", "The visitor passed a goal card.", activity=True),
    EventType("completed", "The dialogue reached the end of a branch."),
    EventType("opened", "The visitor opened the chat window (widgets speaking protocol 1.1).", client=False),
    EventType("closed", "The visitor closed the chat window (widgets speaking protocol 1.1).", client=False),
)


@hookimpl
def register_event_types(register: Callable[[EventType], Any]) -> None:
    """triggered, engaged, answered, lead_captured, goal_reached, completed, opened and closed."""
    for event_type in CORE_EVENT_TYPES:
        register(event_type)

"""Notifications: telling people about meetings and failures, through notifier plugins.

A notifier (``register_notifiers``) receives typed ``Notification``s and delivers them to
addresses: the built-in one sends e-mail over SMTP (``chinwag.notifications.email``); a plugin
may post to a chat webhook, a pager, anything. Which kinds go to whom is configured in the
``notifications:`` section of chinwag.yaml (``chinwag.notifications.settings``).

Every notification goes through the outbox (``chinwag.notifications.delivery``): one consumer per
notifier, fed by the turn that booked a meeting or failed to (the ``meeting_booked`` and
``booking_failed`` events), or by ``enqueue_notification`` in the transaction that noticed the
trouble (an agent whose calendar needs reconnecting, outbox items that died). So a notification
is neither lost nor sent twice, and alerts are throttled to one per kind and agent per interval.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

# The kinds of notification: what happened.
MEETING_BOOKED = "meeting_booked"
MEETING_CHANGED = "meeting_changed"  # cancelled or rescheduled
BOOKING_FAILED = "booking_failed"
CALENDAR_NEEDS_RECONNECT = "calendar_needs_reconnect"
OUTBOX_DEAD = "outbox_dead"
MONTHLY_CAP_NEAR = "monthly_cap_near"
TEST = "test"
KINDS = (MEETING_BOOKED, MEETING_CHANGED, BOOKING_FAILED, CALENDAR_NEEDS_RECONNECT, OUTBOX_DEAD, MONTHLY_CAP_NEAR, TEST)
# Failures: sent at most once per kind and agent per ``notifications.alert_interval``.
ALERTS = frozenset({BOOKING_FAILED, CALENDAR_NEEDS_RECONNECT, OUTBOX_DEAD, MONTHLY_CAP_NEAR})


@attrs.frozen
class Notification:
    """Something to tell people: its ``kind``, a unique ``key`` (the idempotency key), the agent
    it concerns (if any), when it happened and what a message about it shows (``data``: the
    visitor's name, email, company fields and answers, the page, the dialogue, the meeting...)."""

    kind: str
    key: str
    occurred_at: dt.datetime
    agent_email: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)

    def payload(self) -> dict[str, Any]:
        """The notification as an outbox payload (JSON)."""
        return {"kind": self.kind, "key": self.key, "occurred_at": self.occurred_at.isoformat(),
                "agent_email": self.agent_email, "data": dict(self.data)}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Notification:
        """The inverse of ``payload``."""
        return cls(str(payload["kind"]), str(payload["key"]), dt.datetime.fromisoformat(payload["occurred_at"]),
                   payload.get("agent_email"), dict(payload.get("data") or {}))


class NotificationRefused(Exception):
    """Raised by ``Notifier.send``: the remote end refused this notification for good (every
    recipient unknown, say). It is settled as ``skipped`` with the reason, never retried."""


@runtime_checkable
class Notifier(Protocol):
    """What a notifier plugin registers (``register_notifiers``)."""

    name: str  # "email", "slack", ...

    async def send(self, notification: Notification, recipients: Sequence[str]) -> None:
        """Deliver one notification to these recipients (addresses as the project configured
        them). Raise ``chinwag.outbox.RetryLater`` (or anything) for a transient failure: it is
        tried again with the same notification; ``NotificationRefused`` for a final refusal.
        Return once it is delivered."""

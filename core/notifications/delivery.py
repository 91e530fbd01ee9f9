"""Notifications through the outbox: one consumer per notifier, and the alert throttle.

``NotifierDelivery`` is an outbox consumer (``notify:<notifier>``) that turns each item into a
``Notification``, finds its recipients in the project's settings, holds back an alert sent for
the same kind and agent within ``alert_interval`` (skipped, with that reason, in ``chinwag
outbox``), and hands it to the notifier. Items are delivered one at a time, so a failure retries
only the message that failed. The items come from the ``meeting_booked`` and ``booking_failed``
events of the turn (``wants``), or from ``enqueue_notification`` in the transaction that noticed
the trouble.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..events import ChatEvent
from ..links import conversation_url
from ..outbox import OutboxItem, Skipped, enqueue, outbox_row
from ..store import utc, utcnow
from . import ALERTS, BOOKING_FAILED, MEETING_BOOKED, Notification, NotificationRefused, Notifier
from .settings import NotificationSettings

if TYPE_CHECKING:
    from ..app import Chinwag

metadata = sa.MetaData()

# The last alert of each kind about each subject (an agent, or "" for the project), per notifier.
notification_throttle = sa.Table(
    "notification_throttle",
    metadata,
    sa.Column("notifier", sa.String(100), primary_key=True),
    sa.Column("kind", sa.String(60), primary_key=True),
    sa.Column("subject", sa.String(320), primary_key=True),
    sa.Column("key", sa.String(200), nullable=False),  # the alert sent: its retries are not held back
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
)

EVENT_KINDS = frozenset({MEETING_BOOKED, BOOKING_FAILED})  # notifications that come from chat events
PREFIX = "notify:"


class NotifierDelivery:
    """The outbox consumer of one notifier."""

    batch_size = 1

    def __init__(self, app: Chinwag, notifier: Notifier, settings: NotificationSettings) -> None:
        self.app = app
        self.notifier = notifier
        self.settings = settings
        self.name = PREFIX + notifier.name

    def wants(self, event: ChatEvent) -> bool:
        """The events a notification is made of: a meeting booked, a booking that failed."""
        return event.name in EVENT_KINDS

    async def deliver(self, items: Sequence[OutboxItem]) -> dict[int, Skipped]:
        """Send each item's notification to its recipients; skip what has none or is held back."""
        skipped: dict[int, Skipped] = {}
        for item in items:
            notification = await notification_of(self.app, item)
            recipients = self.settings.recipients(notification.kind, notification.agent_email)
            if not recipients:
                skipped[item.id] = Skipped(f"no recipients for {notification.kind} in notifications.send")
                continue
            if notification.kind in ALERTS and not await self._may_alert(notification):
                skipped[item.id] = Skipped(f"held back: one {notification.kind} alert per "
                                           f"{self.settings.alert_interval:g} s")
                continue
            try:
                await self.notifier.send(notification, recipients)
            except NotificationRefused as refusal:
                skipped[item.id] = Skipped(str(refusal))
        return skipped

    async def _may_alert(self, notification: Notification) -> bool:
        """Whether this alert may go now: none of its kind about its subject went within the
        interval (or it is this one, tried again). Recorded as sent at once."""
        assert self.app.store is not None
        now = utcnow()
        subject = notification.agent_email or ""
        async with self.app.store.transaction() as connection:
            insert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(
                notification_throttle)
            statement = insert.values(notifier=self.notifier.name, kind=notification.kind, subject=subject,
                                      key=notification.key, sent_at=now).on_conflict_do_update(
                index_elements=["notifier", "kind", "subject"], set_={"key": notification.key, "sent_at": now},
                where=sa.or_(notification_throttle.c.sent_at < now - dt.timedelta(seconds=self.settings.alert_interval),
                             notification_throttle.c.key == notification.key))
            return (await connection.execute(statement)).rowcount == 1


async def notification_of(app: Chinwag, item: OutboxItem) -> Notification:
    """The notification an outbox item carries: a chat event's (with the visitor and the
    meeting), or one queued by ``enqueue_notification``."""
    payload = item.payload
    if "kind" in payload and "key" in payload:
        return Notification.from_payload(payload)
    data = dict(payload.get("data") or {})
    lead = {name: value for name, value in (payload.get("lead") or {}).items() if value not in (None, "")}
    name = " ".join(str(lead[field]) for field in ("lead.firstName", "lead.lastName") if lead.get(field))
    return Notification(item.kind, item.key, dt.datetime.fromisoformat(payload["occurred_at"]),
                        data.get("agent_email"), {
                            "visitor": {"name": name, "email": lead.get("lead.email") or lead.get("person.email")},
                            "answers": {field: value for field, value in lead.items()
                                        if field.startswith(("lead.", "company.", "person."))},
                            "page_url": payload.get("page_url"), "dialogue": payload.get("dialogue_name"),
                            "dialogue_id": payload.get("dialogue_id"), "session_id": payload.get("session_id"),
                            "transcript_url": await conversation_url(app, str(payload.get("session_id"))),
                            "meeting": data if item.kind == MEETING_BOOKED else None,
                            "reason": data.get("reason")})


async def enqueue_notification(connection: Any, app: Chinwag, notification: Notification,
                               exclude: Sequence[str] = ()) -> int:
    """Queue ``notification`` for every notifier, in the caller's transaction (so it goes out
    exactly when what it reports is committed); return how many items. ``exclude`` names outbox
    consumers to leave out (a notifier is not told about its own dead items)."""
    rows = [outbox_row(consumer.name, notification.key, notification.kind, notification.payload(), None, utcnow())
            for consumer in app.outbox_consumers
            if isinstance(consumer, NotifierDelivery) and consumer.name not in exclude]
    await enqueue(connection, rows)
    return len(rows)


def describe_time(moment: str | None, zone: str | None) -> str:
    """A meeting time as the agent reads it: ``Thu 3 Dec 2026, 14:30 (Europe/London)``."""
    if not moment:
        return ""
    from zoneinfo import ZoneInfo

    instant = utc(dt.datetime.fromisoformat(moment.replace("Z", "+00:00")))
    try:
        local = instant.astimezone(ZoneInfo(zone)) if zone else instant  # type: ignore[union-attr]
    except (KeyError, ValueError):
        local, zone = instant, "UTC"  # type: ignore[assignment]
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} ({zone or 'UTC'})"


def meeting_zone(app: Chinwag, agent_email: str | None) -> str | None:
    """The agent's time zone, from the meetings settings when the meetings plugin is there."""
    try:
        from ..meetings.settings import meeting_settings

        agent = meeting_settings(app).agents.get(agent_email or "")
    except Exception:  # no meetings plugin, or no agents
        return None
    return agent.time_zone if agent is not None else None


def describe(notification: Notification, app: Chinwag) -> Mapping[str, Any]:
    """What a template gets: the notification's fields, the meeting time in the agent's zone."""
    meeting = notification.data.get("meeting") or {}
    zone = meeting_zone(app, notification.agent_email)
    return {"kind": notification.kind, "key": notification.key, "agent_email": notification.agent_email,
            "occurred_at": notification.occurred_at, "project": app.config.name, **notification.data,
            "meeting_time": describe_time(meeting.get("start"), zone) if meeting else ""}

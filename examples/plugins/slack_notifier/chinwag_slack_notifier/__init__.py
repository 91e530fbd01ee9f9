"""Notifications posted to a Slack-compatible incoming webhook (an example notifier plugin)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import httpx
from chinwag import hookimpl
from chinwag.notifications import Notification, NotificationRefused
from chinwag.outbox import RetryLater
from chinwag.plugin_settings import SettingsCheck
from chinwag.problems import Problem

PLUGIN = "slack_notifier"
HEADLINES = {
    "meeting_booked": "New meeting booked", "meeting_changed": "Meeting {change}",
    "booking_failed": "A booking failed", "calendar_needs_reconnect": "A calendar needs reconnecting",
    "outbox_dead": "Deliveries failed for good", "monthly_cap_near": "Monthly cap near", "test": "Test message"}


def escape(text: Any) -> str:
    """Text for Slack's markup: ``&``, ``<`` and ``>`` escaped (so no mentions or links sneak in)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(notification: Notification, recipients: Sequence[str]) -> str:
    """The message: a headline, then what the notification says, one fact per line."""
    data = notification.data
    headline = HEADLINES.get(notification.kind, notification.kind).format(change=data.get("change", "changed"))
    lines = [f"*{escape(headline)}*"]
    visitor = data.get("visitor") or {}
    if visitor.get("name") or visitor.get("email"):
        lines.append(f"Visitor: {escape(visitor.get('name') or '-')} ({escape(visitor.get('email') or '-')})")
    if notification.agent_email:
        lines.append(f"Agent: {escape(notification.agent_email)}")
    meeting = data.get("meeting") or {}
    if meeting.get("start"):
        lines.append(f"When: {escape(meeting['start'])}")
    for label, key in (("Dialogue", "dialogue"), ("Page", "page_url"), ("Why", "reason"), ("Consumer", "consumer")):
        if data.get(key):
            lines.append(f"{label}: {escape(data[key])}")
    lines.append(f"For: {escape(', '.join(recipients))}")
    return "\n".join(lines)


class SlackNotifier:
    """Posts each notification to one incoming webhook."""

    name = "slack"

    def __init__(self, webhook_url: str, timeout: float = 10.0) -> None:
        self.webhook_url = webhook_url
        self.timeout = timeout

    async def send(self, notification: Notification, recipients: Sequence[str]) -> None:
        """POST ``{"text": ...}``; 429 and 5xx are retried later, other refusals are final."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.webhook_url, json={"text": render(notification, recipients)})
        except httpx.HTTPError as error:
            raise RetryLater(f"webhook unreachable: {type(error).__name__}") from error
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryLater(f"webhook answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise NotificationRefused(f"webhook refused the message: HTTP {response.status_code} {response.text[:200]}")


def _settings(app: Any) -> dict[str, Any]:
    return dict(app.config.plugin_config(PLUGIN))


@hookimpl
def check_config(config: Any) -> list[Problem]:
    """``webhook_url`` is required and must be an http(s) URL; ``timeout`` from 1 to 60 seconds."""
    settings = config.plugin_config(PLUGIN)
    if not settings:
        return []
    source = (config.raw.get("plugins") or {}).get(PLUGIN) if hasattr(config.raw, "get") else None
    check = SettingsCheck(PLUGIN, settings, str(config.file), source)
    check.unknown_keys({"webhook_url", "timeout"})
    check.required_text(["webhook_url"], "is required: the incoming webhook's URL (read it with $env)")
    check.http_urls(["webhook_url"])
    check.numbers({"timeout": (1, 60, False)})
    return check.problems


@hookimpl
def register_notifiers(register: Callable[[Any], Any], app: Any) -> None:
    """The Slack notifier, when ``plugins.slack_notifier.webhook_url`` is set."""
    settings = _settings(app)
    if settings.get("webhook_url"):
        register(SlackNotifier(str(settings["webhook_url"]), float(settings.get("timeout", 10))))

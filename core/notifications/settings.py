"""The ``notifications:`` section of chinwag.yaml: who gets which notification, checked with lines.

    notifications:
      alerts_to: [ops@acme.example]      # where failure alerts go ("alerts" below)
      send:                              # kind -> recipients: agent, alerts, or addresses
        meeting_booked: [agent]
        booking_failed: [alerts]
      alert_interval: 3600               # seconds: at most one alert per kind and agent
      email: {...}                       # the e-mail notifier's settings (chinwag.notifications.email)

Without the section nothing is sent. ``send`` overrides the defaults kind by kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..problems import Problem
from ..yamlfile import line_of
from . import (BOOKING_FAILED, CALENDAR_NEEDS_RECONNECT, KINDS, MEETING_BOOKED, MEETING_CHANGED, MONTHLY_CAP_NEAR,
               OUTBOX_DEAD, TEST)

SECTION = "notifications"
KEYS = {"alerts_to", "send", "alert_interval", "email"}
AGENT, ALERTS_TO = "agent", "alerts"
DEFAULT_SEND: Mapping[str, tuple[str, ...]] = {
    MEETING_BOOKED: (AGENT,), MEETING_CHANGED: (AGENT,), BOOKING_FAILED: (ALERTS_TO,),
    CALENDAR_NEEDS_RECONNECT: (AGENT, ALERTS_TO), OUTBOX_DEAD: (ALERTS_TO,), MONTHLY_CAP_NEAR: (ALERTS_TO,),
    TEST: (ALERTS_TO,)}


@attrs.frozen
class NotificationSettings:
    """Who gets what: recipients per kind (``agent``, ``alerts`` or addresses) and the alert interval."""

    enabled: bool = False
    alerts_to: tuple[str, ...] = ()
    send: Mapping[str, tuple[str, ...]] = attrs.field(factory=lambda: dict(DEFAULT_SEND))
    alert_interval: float = 3600.0

    def recipients(self, kind: str, agent_email: str | None) -> list[str]:
        """The addresses a notification of ``kind`` about ``agent_email`` goes to, each once."""
        found: list[str] = []
        for name in self.send.get(kind, ()):
            addresses = ([agent_email] if agent_email else []) if name == AGENT else \
                list(self.alerts_to) if name == ALERTS_TO else [name]
            found += [address for address in addresses if address not in found]
        return found


def _email_like(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 320 and value.count("@") == 1 and \
        not any(character.isspace() or character in "<>,;\"'" or ord(character) < 32 for character in value)


def parse_settings(section: Any, raw: Any, file: str) -> tuple[NotificationSettings, list[Problem]]:
    """The settings of the ``notifications:`` section (None: nothing is sent) and its problems."""
    problems: list[Problem] = []
    if section is None:
        return NotificationSettings(), problems

    def problem(key: str, message: str, node: Any = raw) -> None:
        problems.append(Problem(file, line_of(node, key.rsplit(".", 1)[-1]), f"{SECTION}.{key}", message))

    if not isinstance(section, Mapping):
        problems.append(Problem(file, None, SECTION, "must be a mapping (alerts_to, send, alert_interval, email)"))
        return NotificationSettings(), problems
    for key in sorted(set(section) - KEYS, key=str):
        problem(str(key), f"unknown setting (known: {', '.join(sorted(KEYS))})")
    alerts_to = section.get("alerts_to", [])
    if not isinstance(alerts_to, list) or not all(_email_like(address) for address in alerts_to):
        problem("alerts_to", "must be a list of e-mail addresses")
        alerts_to = []
    send = dict(DEFAULT_SEND)
    given = section.get("send", {})
    node = raw.get("send") if isinstance(raw, Mapping) else None
    if not isinstance(given, Mapping):
        problem("send", "must map notification kinds to lists of recipients (agent, alerts or addresses)")
        given = {}
    for kind, recipients in given.items():
        if kind not in KINDS:
            problem(f"send.{kind}", f"unknown notification kind (known: {', '.join(KINDS)})", node)
            continue
        if not isinstance(recipients, list) or not all(
                recipient in (AGENT, ALERTS_TO) or _email_like(recipient) for recipient in recipients):
            problem(f"send.{kind}", "must be a list of recipients: agent, alerts or e-mail addresses", node)
            continue
        send[str(kind)] = tuple(recipients)
    if any(ALERTS_TO in recipients for recipients in send.values()) and not alerts_to and "alerts_to" not in section:
        problem("alerts_to", "is needed: some notifications go to alerts (list the addresses that get them)")
    interval = section.get("alert_interval", 3600)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 <= interval <= 86_400 * 7:
        problem("alert_interval", "must be a number of seconds from 0 to 604800")
        interval = 3600
    return NotificationSettings(True, tuple(alerts_to), send, float(interval)), problems


def recipients_problem(recipients: Sequence[str]) -> str | None:
    """Why ``recipients`` cannot be written to (None when they can)."""
    bad = [recipient for recipient in recipients if not _email_like(recipient)]
    return f"not e-mail addresses: {', '.join(map(repr, bad))}" if bad else None

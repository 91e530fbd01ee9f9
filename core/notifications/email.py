"""The built-in e-mail notifier: Jinja2 templates, sent over SMTP with aiosmtplib.

    notifications:
      email:
        from: chat@acme.example
        host: smtp.acme.example
        port: 587                        # default: 587 with starttls, 465 with tls, 25 with none
        security: starttls               # starttls | tls | none
        username: {"$env": "SMTP_USER"}
        password: {"$env": "SMTP_PASSWORD"}
        timeout: 30
        console: false                   # true: print each message instead of sending it (the demo)

Each kind has three templates under ``notifications/`` (``<kind>.subject.txt``, ``<kind>.txt``,
``<kind>.html``), which a project overrides with files of the same name in its ``templates/``.
The HTML part is autoescaped; the subject is one line, stripped of control characters, so
visitor text can neither inject markup nor headers. The Message-ID is made from the
notification's key, so a message sent twice after a crash is recognisably the same message.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

import attrs
import jinja2

from ..outbox import RetryLater
from ..problems import Problem
from ..yamlfile import line_of
from . import Notification, NotificationRefused
from .delivery import describe
from .settings import _email_like

if TYPE_CHECKING:
    from ..app import Chinwag

KEYS = {"from", "host", "port", "security", "username", "password", "timeout", "console"}
SECURITY = {"starttls": 587, "tls": 465, "none": 25}
CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


@attrs.frozen
class EmailSettings:
    """Where and how to send."""

    sender: str
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    timeout: float = 30.0
    console: bool = False


def parse_email_settings(section: Any, raw: Any, file: str) -> tuple[EmailSettings | None, list[Problem]]:
    """The ``notifications.email`` settings (None when absent or wrong) and their problems."""
    problems: list[Problem] = []

    def problem(key: str, message: str) -> None:
        problems.append(Problem(file, line_of(raw, key) if isinstance(raw, Mapping) else None,
                                f"notifications.email.{key}" if key else "notifications.email", message))

    if section is None:
        return None, problems
    if not isinstance(section, Mapping):
        problem("", "must be a mapping (from, host, port, security, username, password, timeout, console)")
        return None, problems
    for key in sorted(set(section) - KEYS, key=str):
        problem(str(key), f"unknown setting (known: {', '.join(sorted(KEYS))})")
    sender = section.get("from")
    if not _email_like(sender):
        problem("from", "is required: the address the messages come from, like chat@acme.example")
    security = section.get("security", "starttls")
    if security not in SECURITY:
        problem("security", "must be starttls, tls or none")
        security = "starttls"
    port = section.get("port", SECURITY[security])
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problem("port", "must be a port number")
    host = section.get("host", "localhost")
    if not isinstance(host, str) or not host or any(character.isspace() for character in host):
        problem("host", "must be the SMTP server's host name")
    timeout = section.get("timeout", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 300:
        problem("timeout", "must be a number of seconds from 1 to 300")
    for key in ("username", "password"):
        if section.get(key) is not None and not isinstance(section.get(key), str):
            problem(key, "must be text (read it from the environment with $env)")
    if not isinstance(section.get("console", False), bool):
        problem("console", "must be true or false")
    if problems:
        return None, problems
    return EmailSettings(sender, host, port, security, section.get("username"), section.get("password"),
                         float(timeout), bool(section.get("console", False))), problems


def one_line(text: str, longest: int = 200) -> str:
    """Text fit for a header: control characters (line breaks above all) replaced, spaces squeezed."""
    return " ".join(CONTROL.sub(" ", text).split())[:longest]


class EmailNotifier:
    """Sends notifications as e-mails (plain text and HTML)."""

    name = "email"

    def __init__(self, app: Chinwag, settings: EmailSettings) -> None:
        self.app = app
        self.settings = settings
        self.templates = app.templates.overlay(autoescape=jinja2.select_autoescape(
            enabled_extensions=("html",), default_for_string=False, default=False))

    def message(self, notification: Notification, recipients: Sequence[str]) -> EmailMessage:
        """The e-mail for a notification."""
        context = describe(notification, self.app)
        render = lambda suffix: self.templates.get_template(f"notifications/{notification.kind}{suffix}").render(context)  # noqa: E731
        message = EmailMessage()
        message["Subject"] = one_line(render(".subject.txt"))
        message["From"] = self.settings.sender
        message["To"] = ", ".join(recipients)
        message["Date"] = formatdate(notification.occurred_at.timestamp(), usegmt=True)
        domain = self.settings.sender.rsplit("@", 1)[-1]
        message["Message-ID"] = f"<{one_line(notification.key, 150).replace(' ', '')}.{notification.kind}@{domain}>"
        message.set_content(render(".txt"))
        message.add_alternative(render(".html"), subtype="html")
        return message

    async def send(self, notification: Notification, recipients: Sequence[str]) -> None:
        """Send it; an SMTP outage or refusal of the whole message is retried later, a refusal of
        every recipient is final."""
        import aiosmtplib

        message = self.message(notification, recipients)
        if self.settings.console:
            print(f"\n--- e-mail (notifications.email.console) ---\n{message.as_string()}", file=sys.stdout, flush=True)
            return
        try:
            await aiosmtplib.send(message, hostname=self.settings.host, port=self.settings.port,
                                  username=self.settings.username, password=self.settings.password,
                                  use_tls=self.settings.security == "tls",
                                  start_tls=self.settings.security == "starttls",
                                  timeout=self.settings.timeout)
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise NotificationRefused(f"the SMTP server refused every recipient: {error}") from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise RetryLater(f"SMTP: {type(error).__name__}: {error}") from error

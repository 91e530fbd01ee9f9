"""Notifications, built in as a plugin: the ``notifications:`` section, the e-mail notifier, one
outbox consumer per notifier (the built-in one and any a plugin registers), the throttle table
and ``chinwag notify test``. Blocking it (``CHINWAG_DISABLE_PLUGINS=chinwag.notifications.plugin``)
leaves a server that notifies nobody."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..config import Config, ConfigSection
from ..hookspecs import hookimpl
from ..problems import Problem
from .settings import SECTION, NotificationSettings, parse_settings

if TYPE_CHECKING:
    from ..app import Chinwag


def settings_of(app: Chinwag) -> tuple[NotificationSettings, list[Problem]]:
    """The project's notification settings and their problems."""
    raw = app.config.raw.get(SECTION) if hasattr(app.config.raw, "get") else None
    return parse_settings(app.config.sections.get(SECTION), raw, str(app.config.file))


def _email_section(app: Chinwag) -> tuple[Any, Any]:
    section = app.config.sections.get(SECTION)
    raw = app.config.raw.get(SECTION) if hasattr(app.config.raw, "get") else None
    if not hasattr(section, "get"):
        return None, None
    return section.get("email"), raw.get("email") if hasattr(raw, "get") else None


@hookimpl
def register_config_sections(register: Callable[[ConfigSection], Any]) -> None:
    """``notifications:`` in chinwag.yaml."""
    register(ConfigSection(SECTION, "who is told about meetings and failures, and how (e-mail over SMTP)"))


@hookimpl
def register_tables(register: Callable[[Any], Any]) -> None:
    """The alert throttle."""
    from .delivery import notification_throttle

    register(notification_throttle)


@hookimpl
def register_migrations(register: Callable[[Any], Any]) -> None:
    """The notifications' migrations (``chinwag/notifications/migrations/``): the alert throttle."""
    from ..schema_sources import MigrationSource, package_folder
    from .delivery import notification_throttle

    register(MigrationSource("notifications", package_folder(__file__), [notification_throttle]))


@hookimpl
def register_notifiers(register: Callable[[Any], Any], app: Chinwag) -> None:
    """The e-mail notifier, when ``notifications.email`` is configured."""
    from .email import EmailNotifier, parse_email_settings

    section, raw = _email_section(app)
    settings, problems = parse_email_settings(section, raw, str(app.config.file))
    if settings is not None and not problems:
        register(EmailNotifier(app, settings))


@hookimpl
def register_outbox_consumers(register: Callable[[Any], Any], app: Chinwag) -> None:
    """One consumer per notifier (ours and other plugins'), when notifications are configured."""
    from .delivery import NotifierDelivery

    settings, problems = settings_of(app)
    if settings.enabled and not problems:
        for notifier in app.notifiers:
            register(NotifierDelivery(app, notifier, settings))


@hookimpl
def check_config(config: Config, app: Chinwag) -> list[Problem]:
    """Problems of ``notifications:`` and of ``notifications.email``, with their lines."""
    from .email import parse_email_settings

    _, problems = settings_of(app)
    section, raw = _email_section(app)
    return problems + parse_email_settings(section, raw, str(config.file))[1]


@hookimpl
def register_commands(cli: Any) -> None:
    """``chinwag notify test``."""
    from .commands import notify

    cli.add_command(notify)

"""chinwag-webhook: a CRM connector that posts each chat event to a webhook URL, signed with
HMAC-SHA256, delivered through chinwag's outbox (nothing lost, each event id applied once).

    plugins:
      webhook:
        url: https://hooks.example.com/chinwag
        secret: {$env: CHINWAG_WEBHOOK_SECRET}
        event_types: [lead_captured, goal_reached, meeting_booked]   # optional; default: all
        batch_size: 50                                               # optional
        timeout: 10                                                  # optional, seconds

Receivers verify deliveries with ``chinwag_webhook.signature.verify`` (or its recipe, in the README).
"""

from __future__ import annotations

from typing import Any, Callable

from chinwag import hookimpl
from chinwag.plugin_settings import SettingsCheck

from .connector import WebhookConnector
from .signature import SignatureError, sign, verify

__all__ = ["WebhookConnector", "SignatureError", "sign", "verify"]

PLUGIN = "webhook"  # the entry-point name: the key of the settings under ``plugins:``
SETTINGS = ("url", "secret", "event_types", "batch_size", "timeout")
MIN_SECRET = 16


@hookimpl
def register_crm_connectors(register: Callable[[Any], Any], app: Any) -> None:
    """The connector, once the project configures a URL."""
    settings = app.config.plugin_config(PLUGIN)
    if settings.get("url"):
        register(WebhookConnector(settings))


@hookimpl
def check_config(config: Any) -> list[Any]:
    """The URL, the secret (from the environment, long enough) and the optional settings."""
    settings = config.plugin_config(PLUGIN)
    if not settings:
        return []
    check = SettingsCheck(PLUGIN, settings, str(config.file), (config.raw.get("plugins") or {}).get(PLUGIN))
    check.unknown_keys(SETTINGS)
    check.required_text(["url"], "is required: where to post the events")
    check.http_urls(["url"])
    secret = settings.get("secret")
    if not isinstance(secret, str) or len(secret) < MIN_SECRET:
        check.problem("secret", f"is required: at least {MIN_SECRET} characters, read with $env (never in the file)")
    types = settings.get("event_types")
    if types is not None and (not isinstance(types, list) or not all(isinstance(t, str) and t for t in types)):
        check.problem("event_types", "must be a list of event type names (e.g. lead_captured)")
    check.numbers({"batch_size": (1, 500, True), "timeout": (0.1, 300, False)})
    return check.problems


@hookimpl
async def shutdown(app: Any) -> None:
    """Close the HTTP client."""
    connector = app.crm_connectors.get(WebhookConnector.name)
    if isinstance(connector, WebhookConnector):
        await connector.close()

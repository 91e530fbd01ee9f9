"""Calendar sandboxes served inside chinwag, for the offline demo (``sandbox: true``).

A provider plugin configured with ``sandbox: true`` keeps an in-memory stand-in of its vendor's
API, mounts it at ``/-/sandbox/<provider>`` on the chinwag server itself, and points its own
base and token URLs there, so the provider still speaks real HTTP over loopback. Such a
provider has a ``sandbox`` attribute (not None) and ``sandbox_tokens(email)``, with which chinwag
connects its agents at startup: there is no one to click "Allow" in a demo, and the sandbox
forgets every token when the process ends anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SANDBOX_PREFIX = "/-/sandbox/"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def sandbox_path(provider_name: str) -> str:
    """Where a provider's sandbox is mounted on the chinwag server."""
    return SANDBOX_PREFIX + provider_name


def sandbox_url(app: Any, provider_name: str) -> str:
    """The sandbox's URL as the provider reaches it: ``meetings.public_url`` plus the mount path."""
    meetings = app.config.sections.get("meetings")
    public_url = meetings.get("public_url", DEFAULT_PUBLIC_URL) if isinstance(meetings, Mapping) else DEFAULT_PUBLIC_URL
    return str(public_url).rstrip("/") + sandbox_path(provider_name)


def in_sandbox(provider: Any) -> bool:
    """Whether a provider talks to a sandbox served by this process."""
    return getattr(provider, "sandbox", None) is not None

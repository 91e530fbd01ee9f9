"""Calendar sandboxes served inside chinwag, for the offline demo (``sandbox: true``).

A provider plugin configured with ``sandbox: true`` keeps an in-memory stand-in of its vendor's
API, mounts it at ``/-/sandbox/<provider>`` on the chinwag server itself, and points its own
base and token URLs there, so the provider still speaks real HTTP over loopback. Such a
provider has a ``sandbox`` attribute holding its sandbox's state (a ``chinwag.sandbox.SandboxState``),
from which chinwag takes tokens for its agents at startup: there is no one to click "Allow" in a
demo, and the sandbox forgets every token when the process ends anyway.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import Chinwag

SANDBOX_PREFIX = "/-/sandbox/"


def sandbox_path(provider_name: str) -> str:
    """Where a provider's sandbox is mounted on the chinwag server."""
    return SANDBOX_PREFIX + provider_name


def sandbox_url(app: Chinwag, provider_name: str) -> str:
    """The sandbox's URL as the provider reaches it: the project's ``public_url`` plus the mount path."""
    return app.config.public_url + sandbox_path(provider_name)


def in_sandbox(provider: Any) -> bool:
    """Whether a provider talks to a sandbox served by this process."""
    return getattr(provider, "sandbox", None) is not None


def sandbox_grant_tokens(provider: Any, email: str) -> dict[str, Any]:
    """Tokens for ``email`` issued by the provider's in-process sandbox, as a grant stores them."""
    issued = provider.sandbox.issue_tokens(email)
    return {"access_token": issued["access_token"], "refresh_token": issued["refresh_token"],
            "expires_at": time.time() + float(issued.get("expires_in", 3600)), "token_type": "Bearer"}

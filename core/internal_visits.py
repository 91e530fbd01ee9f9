"""Conversations of the project's own team (a marketer previewing a dialogue): kept out of reports,
CRMs and notifications.

Any plugin may recognise its people through the ``internal_visit`` hook (the admin console
recognises its previews by a cookie it sets); core asks once per ``hello``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import Chinwag

MAX_REASON = 200


async def internal_reason(app: Chinwag, headers: Mapping[str, str] | None) -> str | None:
    """The first reason a plugin gives for treating this connection as internal, or None."""
    if not headers:
        return None
    for _, reason in await app.plugins.acall("internal_visit", headers=headers, app=app):
        if isinstance(reason, str) and reason.strip():
            return reason.strip()[:MAX_REASON]
    return None

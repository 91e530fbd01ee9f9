"""Links to pages for people: where a notification sends an agent or a team.

Core serves no pages for people (only the widget and JSON for operators); a plugin that does,
such as the admin console, says where through the ``page_url`` hook, the same door any plugin
has. Each function returns None when no plugin serves such a page, and the caller falls back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import Chinwag

AGENT = "agent"
CONVERSATION = "conversation"


async def page_url(app: Chinwag, subject: str, key: str) -> str | None:
    """The first absolute URL a plugin gives for ``subject`` ``key`` (``page_url`` hook), or None."""
    for _, url in await app.plugins.acall("page_url", subject=subject, key=key, app=app):
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            return url
    return None


async def conversation_url(app: Chinwag, session_id: str) -> str:
    """Where a person reads a conversation: a plugin's page, else the admin API's JSON (which
    needs the admin token)."""
    return (await page_url(app, CONVERSATION, session_id)
            or f"{app.config.public_url}/-/admin/sessions/{session_id}.json")

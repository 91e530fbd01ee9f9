"""The invitation's title and body, from Jinja2 templates with lead, company, agent and meeting tokens.

The body comes from the agent's ``invitation_template`` if set, else ``meetings.invitation_template``
(``invitation.txt``); a project's ``templates/`` folder overrides the built-in one. Invitations are
plain text, so nothing is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .agents import Agent
from .settings import meeting_settings

if TYPE_CHECKING:
    from ..app import Chinwag


def _plain_text(app: Chinwag) -> Any:
    """The app's template environment (same loaders) without HTML escaping."""
    return app.templates.overlay(autoescape=False)


def render_invitation(app: Chinwag, agent: Agent, context: Mapping[str, Any]) -> str:
    """The invitation body for a meeting with ``agent``."""
    name = agent.invitation_template or meeting_settings(app).invitation_template
    return _plain_text(app).get_template(name).render(**context).strip()


def render_summary(app: Chinwag, context: Mapping[str, Any]) -> str:
    """The event's title (``meetings.summary``)."""
    return " ".join(_plain_text(app).from_string(meeting_settings(app).summary).render(**context).split())

"""Attributes: the named facts about a lead, their company or the visit.

Dialogues map answers to attributes, branch on them and target on them; only registered
attributes may be named. ``lead.*`` and ``company.*`` are stored on the visitor and may be
written by dialogues; ``person.*`` are what a CRM knows about the person (filled when a CRM
connector recognises them, read-only); ``visit.*`` describe the current visit and are read-only.

An attribute whose value lives elsewhere (a CRM field, a score service) declares a ``lookup``:
an async function of a ``LookupContext``. Targeting awaits it for at most ``timeout`` seconds
(and never longer than the project's ``targeting.lookup_timeout``); a lookup that fails or takes
longer counts as no answer, and the stored value, if any, is used instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs


@attrs.frozen
class LookupContext:
    """What an attribute's ``lookup`` may read about the visitor being targeted."""

    visitor_id: str
    lead: Mapping[str, Any]  # the stored lead, company and person fields
    visit: Mapping[str, Any]  # the visit's attributes (page URL, UTM parameters, device...)
    app: Any  # the ``chinwag.app.Chinwag`` being served


@attrs.frozen
class Attribute:
    """A registered attribute. ``type`` is string, number, boolean, email or phone.

    ``lookup``, when given, is an async function ``lookup(context: LookupContext) -> value``
    that targeting awaits for at most ``timeout`` seconds.
    """

    name: str
    type: str = "string"
    label: str | None = None
    lookup: Callable[[LookupContext], Awaitable[Any]] | None = attrs.field(default=None, eq=False, repr=False)
    timeout: float = 1.0

    def __attrs_post_init__(self) -> None:
        if self.lookup is not None and self.name.startswith("visit."):
            # Targeting reads visit.* from the page and the request only: a lookup would never run.
            raise ValueError(f"attribute {self.name!r}: visit.* attributes come from the page and the request; "
                             "they cannot be looked up (name it team.*, score.* or the like)")

    @property
    def writable(self) -> bool:
        """Whether a dialogue may store an answer in it."""
        return self.name.startswith(("lead.", "company.")) and self.lookup is None

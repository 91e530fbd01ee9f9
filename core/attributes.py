"""Attributes: the named facts about a lead, their company or the visit.

Dialogues map answers to attributes, branch on them and target on them; only registered
attributes may be named. ``lead.*`` and ``company.*`` are stored on the visitor and may be
written by dialogues; ``person.*`` are what a CRM knows about the person (filled when a CRM
connector recognises them, read-only); ``visit.*`` describe the current visit and are read-only.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Attribute:
    """A registered attribute. ``type`` is string, number, boolean, email or phone."""

    name: str
    type: str = "string"
    label: str | None = None

    @property
    def writable(self) -> bool:
        """Whether a dialogue may store an answer in it."""
        return self.name.startswith(("lead.", "company."))

"""Audience: the values targeting compares, with attribute lookups bounded by their timeouts.

Values come from the visit (``visit.*``), from what an attribute's ``lookup`` answers, or from
the visitor's stored lead (``lead.*``, ``company.*``, ``person.*``). Lookups run at once, all
together, and only for attributes a candidate dialogue's audience names; one that fails or
takes longer than its timeout counts as no answer (the stored value, if any, is used).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from .. import conditions
from ..attributes import Attribute, LookupContext

log = logging.getLogger("chinwag.targeting")


class AudienceValues:
    """The attribute values one visitor is targeted on."""

    def __init__(self, lead: Mapping[str, Any], visit: Mapping[str, Any], looked_up: Mapping[str, Any] | None = None) -> None:
        self.lead, self.visit, self.looked_up = lead, visit, dict(looked_up or {})

    def value(self, name: str) -> Any:
        """The value of attribute ``name`` (None when unknown)."""
        if name.startswith("visit."):
            return self.visit.get(name)
        if name in self.looked_up:
            return self.looked_up[name]
        return self.lead.get(name)

    def holds(self, audience: Mapping[str, Any] | None) -> bool:
        """Whether the visitor is in ``audience`` (everyone when there is none)."""
        return audience is None or conditions.evaluate(audience, self.value)


async def look_up(attributes: Iterable[Attribute], context: LookupContext, longest: float) -> dict[str, Any]:
    """Run the lookups of ``attributes`` concurrently; each gets at most its own timeout, never
    more than ``longest`` seconds. Return the answers that came back in time (None is no answer)."""
    with_lookup = [attribute for attribute in attributes if attribute.lookup is not None]
    if not with_lookup:
        return {}

    async def one(attribute: Attribute) -> tuple[str, Any]:
        try:
            value = await asyncio.wait_for(attribute.lookup(context),  # type: ignore[misc]
                                           timeout=max(0.0, min(attribute.timeout, longest)))
        except asyncio.TimeoutError:
            log.warning("attribute %s: lookup took longer than its timeout; targeting goes on without it", attribute.name)
            return attribute.name, None
        except Exception:
            log.exception("attribute %s: lookup failed; targeting goes on without it", attribute.name)
            return attribute.name, None
        return attribute.name, value

    answers = await asyncio.gather(*(one(attribute) for attribute in with_lookup))
    return {name: value for name, value in answers if value is not None}

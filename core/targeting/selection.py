"""Choosing the dialogue a visitor sees on a page.

The rules (the reference product's, see docs/targeting.md):

* A dialogue the visitor engaged with (answered at least once) and has not finished continues
  on every page, targeted or not, and blocks every other dialogue (``Conversations.hello``).
* Otherwise the best-priority dialogue that qualifies (page rules, then audience) is shown.
* A dialogue is shown at most once per visitor: a finished one never again, and one shown but
  not answered resumes its session (no second ``triggered``) if it qualifies again later. On a
  page where another dialogue qualifies, that one replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..attributes import LookupContext
from ..dialogue import Dialogue
from .audience import AudienceValues, look_up
from .pages import Page
from .rules import Targeting
from .state import TargetingState

if TYPE_CHECKING:
    from ..app import Chinwag


class Targeter:
    """Compiles each dialogue's targeting once and picks the dialogue for a visitor and page."""

    def __init__(self, app: Chinwag) -> None:
        self.app = app
        self._compiled: dict[tuple[str, int], Targeting] = {}

    def targeting(self, dialogue: Dialogue) -> Targeting:
        """The dialogue's compiled targeting (checked by validation before the app serves it)."""
        key = (dialogue.id, dialogue.version)
        if key not in self._compiled:
            self._compiled[key] = Targeting.compile(dialogue.targeting)
        return self._compiled[key]

    async def choose(self, visitor_id: str, lead: Mapping[str, Any], visit: Mapping[str, Any],
                     finished: Iterable[str], can_trigger: bool = True) -> Dialogue | None:
        """The best-priority dialogue this visitor qualifies for on this page, leaving out the
        dialogues in ``finished`` (and, for a client that cannot evaluate behaviour triggers,
        those with a trigger); None when chat is switched off or nothing qualifies."""
        if not self.app.config.chat_enabled:
            return None
        finished = set(finished)
        page = Page.from_url(str(visit.get("visit.page_url") or ""))
        candidates = sorted((dialogue for dialogue in self.app.dialogues.values()
                             if dialogue.id not in finished and self.targeting(dialogue).pages.allow(page)
                             and (can_trigger or not self.targeting(dialogue).trigger)),
                            key=lambda dialogue: (dialogue.priority, dialogue.id))
        if not candidates:
            return None
        names = set().union(*(self.targeting(dialogue).attribute_names() for dialogue in candidates))
        attributes = [attribute for name in sorted(names) if (attribute := self.app.attributes.get(name)) is not None]
        settings = self.app.plugin_state(TargetingState).settings
        looked_up = await look_up(attributes, LookupContext(visitor_id, lead, visit, self.app), settings.lookup_timeout)
        values = AudienceValues(lead, visit, looked_up)
        return next((dialogue for dialogue in candidates if values.holds(self.targeting(dialogue).audience)), None)

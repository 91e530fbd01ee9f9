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
from ..store import utcnow
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
        those with a trigger); None when chat is switched off, this month's cap of engaged
        conversations is reached (``chinwag.monthly_cap``) or nothing qualifies."""
        if not self.app.config.chat_enabled or await self.app.monthly_cap.reached():
            return None
        finished = set(finished)
        page = Page.from_url(str(visit.get("visit.page_url") or ""))
        now = utcnow()
        candidates = sorted((dialogue for dialogue in self.app.dialogues.values()
                             if dialogue.id not in finished and dialogue.live(now)
                             and self.targeting(dialogue).pages.allow(page)
                             and (can_trigger or not self.targeting(dialogue).trigger)),
                            key=lambda dialogue: (dialogue.priority, dialogue.id))
        if not candidates:
            return None
        settings = self.app.plugin_state(TargetingState).settings
        context = LookupContext(visitor_id, lead, visit, self.app)
        values = AudienceValues(lead, visit)
        fetched: set[str] = set()
        for index, dialogue in enumerate(candidates):
            if self._lookups(dialogue) - fetched:
                # Look up, all at once, what this and every later candidate needs: no remote call
                # is made while a dialogue that needs none qualifies first.
                wanted = set().union(*(self._lookups(later) for later in candidates[index:])) - fetched
                values.looked_up.update(await look_up([self.app.attributes[name] for name in sorted(wanted)],
                                                      context, settings.lookup_timeout))
                fetched |= wanted
            if values.holds(self.targeting(dialogue).audience):
                return dialogue
        return None

    def _lookups(self, dialogue: Dialogue) -> set[str]:
        """The attributes the dialogue's audience names that must be looked up."""
        return {name for name in self.targeting(dialogue).attribute_names()
                if (attribute := self.app.attributes.get(name)) is not None and attribute.lookup is not None}

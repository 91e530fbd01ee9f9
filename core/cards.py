"""What a card type is: the contract between the engine and built-in or plugin cards.

A card type is pure. ``enter`` runs when the dialogue reaches a card; ``receive`` runs when the
visitor answers the card's question, or when the outcome of an effect the card asked for comes
back. Work that needs the network (free slots, a booking) is asked for as an ``Effect``: the
engine stops, the session awaits the card type's ``fulfil`` coroutine, and hands its result
back to ``receive`` as ``CardContext.effect_result``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from .dialogue import Card, Dialogue
from .languages.catalog import Catalog, shipped
from .languages.texts import localise

if TYPE_CHECKING:
    from .app import Chinwag


@attrs.frozen
class Effect:
    """A piece of I/O a card asks the session to do before the dialogue goes on."""

    kind: str
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Question:
    """The input a card waits for, as sent in a ``question`` frame's ``input``."""

    kind: str  # buttons | text | email | phone | slots, or a plugin's own kind
    text: str = ""
    fields: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Outcome:
    """What a card did: text to show, lead fields to set, events, and where to go next.

    Exactly one of these ends the step: ``ask`` (wait for the visitor), ``effect`` (wait for the
    session), ``invalid`` (re-prompt the open question with this message), or ``next`` (go on;
    ``None`` with ``end=True`` ends the dialogue; ``None`` otherwise follows the card's default).
    """

    say: tuple[str, ...] = ()
    ask: Question | None = None
    effect: Effect | None = None
    invalid: str | None = None
    next: str | None = None
    end: bool = False
    set_fields: Mapping[str, Any] = attrs.field(factory=dict)
    events: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    answer: Any = None  # the stored value of the visitor's answer (``answer.<card id>``)
    answer_text: str | None = None  # how the visitor's answer appears in the transcript
    remember: Mapping[str, Any] | None = None  # replaces this card's memory (see CardContext)
    # Structured content sent with the last message of ``say`` (its ``attachment``), for a client
    # to draw beside the text: ``{"kind": "meeting", ...}`` from the meeting card.
    attachment: Mapping[str, Any] | None = None


@attrs.frozen
class CardContext:
    """What a card may read: the lead's known attributes, answers so far, the visit, and the
    language the conversation is in.

    ``memory`` is what this card remembered (``Outcome.remember``) while it was open, for cards
    that span several steps, such as the slots a meeting card offered.
    """

    lead: Mapping[str, Any]
    answers: Mapping[str, Any]
    visit: Mapping[str, Any]
    memory: Mapping[str, Any] = attrs.field(factory=dict)
    effect_result: Mapping[str, Any] | None = None
    language: str = "en"  # the session's language, one of the dialogue's
    default_language: str = "en"  # the dialogue's
    catalog: Catalog = attrs.field(factory=shipped, repr=False)

    def localise(self, value: Any) -> Any:
        """A text option (one text, or a mapping of language to text) in the session's language,
        falling back to the dialogue's default language (``chinwag.languages.localise``)."""
        return localise(value, self.language, self.default_language)

    def message(self, key: str, **values: Any) -> str:
        """The catalog's text for ``key`` (``invalid_email``...) in the session's language, with
        its ``{name}`` placeholders filled from ``values``."""
        return self.catalog.message(self.language, key, **values)

    def attribute(self, name: str) -> Any:
        """The value of ``lead.*``, ``company.*``, ``visit.*`` or ``answer.<card id>``, or None."""
        if name.startswith("visit."):
            return self.visit.get(name)
        if name.startswith("answer."):
            return self.answers.get(name[len("answer."):])
        return self.lead.get(name)


class CardType(Protocol):
    """A card type; register instances through the ``register_cards`` hook."""

    name: str
    # Optional: ``books_meetings = True`` for a card type that books meetings. A ``welcome`` for a
    # dialogue with such a card says so, and the widget shows the agents in its header.

    def check(self, card: Card, dialogue: Dialogue, attributes: Any) -> list[str]:
        """Problems with this card's definition (empty when valid). ``attributes`` is the registry."""

    def enter(self, card: Card, context: CardContext) -> Outcome:
        """The dialogue reached ``card``."""

    def receive(self, card: Card, context: CardContext, value: Any) -> Outcome:
        """The visitor answered (``value``), or an effect finished (``context.effect_result``)."""

    def targets(self, card: Card) -> list[str | None]:
        """Card ids this card may go to; None stands for its default way on (validation uses it)."""


class EffectfulCardType(CardType, Protocol):
    """A card type whose effects the session fulfils (the meeting card, for example)."""

    async def fulfil(self, card: Card, effect: Effect, session: Any, app: Chinwag) -> Mapping[str, Any]:
        """Do the effect's I/O; the result is handed to ``receive`` as ``effect_result``."""

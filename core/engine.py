"""The dialogue engine. Pure: (dialogue, state, input) -> (frames out, events, new state).

It never does I/O. A card that needs the network asks for an ``Effect``; the engine stops there
and the session (``chinwag.session``) fulfils it and calls ``resume`` with the result.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import attrs

from .cards import CardContext, Effect, Outcome
from .dialogue import END, Card, Dialogue
from .languages.catalog import Catalog, shipped
from .text import render

MAX_CARDS_PER_TURN = 500  # a dialogue whose cards loop without asking anything stops here


class EngineError(Exception):
    """A turn cannot be played; ``code`` is the protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@attrs.define
class State:
    """Where one session stands in its dialogue. Stored as JSON between turns."""

    dialogue_id: str
    dialogue_version: int
    status: str = "active"  # active | completed
    card: str | None = None  # the card that waits for an answer or an effect
    awaiting: str | None = None  # the open question's id
    pending: dict[str, Any] | None = None  # the effect the session must fulfil: {kind, data}
    step: int = 0
    answers: dict[str, Any] = attrs.field(factory=dict)
    memory: dict[str, Any] = attrs.field(factory=dict)  # per-card memory of multi-step cards
    engaged: bool = False
    lead_captured: bool = False
    goals: list[str] = attrs.field(factory=list)
    language: str | None = None  # the language the session is in (None: stored before languages)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (written out by hand: this runs twice on every turn)."""
        return {
            "dialogue_id": self.dialogue_id, "dialogue_version": self.dialogue_version, "status": self.status,
            "card": self.card, "awaiting": self.awaiting,
            "pending": dict(self.pending) if self.pending is not None else None, "step": self.step,
            "answers": dict(self.answers), "memory": {card: dict(data) for card, data in self.memory.items()},
            "engaged": self.engaged, "lead_captured": self.lead_captured, "goals": list(self.goals),
            "language": self.language,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> State:
        """The inverse of ``to_json``; unknown keys from newer versions are ignored."""
        names = _field_names(cls)
        return cls(**{key: value for key, value in data.items() if key in names})


@attrs.define
class Turn:
    """What one step produced."""

    state: State
    frames: list[dict[str, Any]] = attrs.field(factory=list)
    events: list[tuple[str, dict[str, Any]]] = attrs.field(factory=list)
    lead_updates: dict[str, Any] = attrs.field(factory=dict)

    @property
    def effect(self) -> Effect | None:
        """The effect the session must fulfil before the dialogue goes on, if any."""
        pending = self.state.pending
        return Effect(pending["kind"], pending.get("data", {})) if pending else None


class Engine:
    """Plays one dialogue with a set of card types. Holds no per-visitor data."""

    def __init__(self, dialogue: Dialogue, card_types: Mapping[str, Any] | Any, default_delay: float = 1.0,
                 catalog: Catalog | None = None) -> None:
        self.dialogue = dialogue
        self.card_types = card_types
        self.delay = dialogue.response_delay if dialogue.response_delay is not None else default_delay
        self.catalog = catalog or shipped()  # the project's, for the messages cards say

    # -- the three entry points ------------------------------------------------------------------

    def start(self, lead: Mapping[str, Any], visit: Mapping[str, Any], language: str | None = None) -> Turn:
        """Begin the dialogue for a visitor: the ``triggered`` event and the first cards, in
        ``language`` (one of the dialogue's; its default language when None)."""
        turn = Turn(State(self.dialogue.id, self.dialogue.version, language=language or self.dialogue.default_language))
        turn.events.append(("triggered", {}))
        self._run(turn, self.dialogue.start.id, lead, visit)
        return turn

    def answer(self, state: State, lead: Mapping[str, Any], visit: Mapping[str, Any], question: str, value: Any) -> Turn:
        """The visitor answered ``question`` with ``value``."""
        if state.status != "active" or state.awaiting is None or question != state.awaiting:
            raise EngineError("not_asked", f"question {question!r} is not open")
        turn = Turn(_copy(state))
        card = self.dialogue.card(state.card)  # type: ignore[arg-type]
        context = self._context(turn, card, lead, visit)
        outcome = self._type(card).receive(card, context, value)
        if outcome.invalid is not None:
            turn.state = state  # nothing changes: the same question stays open
            turn.frames.append({"type": "invalid", "question": question, "message": outcome.invalid})
            return turn
        turn.state.awaiting = None
        turn.frames.append({"type": "answered", "question": question, "text": outcome.answer_text or str(value)})
        turn.state.answers[card.id] = outcome.answer
        turn.events.append(("answered", {"card": card.id, "value": outcome.answer}))
        if not turn.state.engaged:
            turn.state.engaged = True
            turn.events.append(("engaged", {"card": card.id}))
        self._follow(turn, card, outcome, lead, visit, context)
        return turn

    def resume(self, state: State, lead: Mapping[str, Any], visit: Mapping[str, Any], result: Mapping[str, Any]) -> Turn:
        """The session fulfilled the pending effect; ``result`` is what it found."""
        if state.pending is None or state.card is None:
            raise EngineError("internal", "no effect is pending")
        turn = Turn(_copy(state))
        turn.state.pending = None
        card = self.dialogue.card(state.card)
        context = attrs.evolve(self._context(turn, card, lead, visit), effect_result=result)
        self._follow(turn, card, self._type(card).receive(card, context, None), lead, visit, context)
        return turn

    # -- the loop ---------------------------------------------------------------------------------

    def _run(self, turn: Turn, card_id: str | None, lead: Mapping[str, Any], visit: Mapping[str, Any]) -> None:
        for _ in range(MAX_CARDS_PER_TURN):
            if card_id is None or card_id == END:
                self._complete(turn)
                return
            card = self.dialogue.card(card_id)
            context = self._context(turn, card, lead, visit)
            card_id = self._apply(turn, card, self._type(card).enter(card, context), lead, visit, context)
            if card_id is None:
                return
        raise EngineError("internal", f"dialogue {self.dialogue.id!r} passed {MAX_CARDS_PER_TURN} cards without asking anything")

    def _follow(self, turn: Turn, card: Card, outcome: Outcome, lead: Mapping[str, Any], visit: Mapping[str, Any],
                context: CardContext) -> None:
        next_id = self._apply(turn, card, outcome, lead, visit, context)
        if next_id is not None:
            self._run(turn, next_id, lead, visit)

    def _apply(self, turn: Turn, card: Card, outcome: Outcome, lead: Mapping[str, Any], visit: Mapping[str, Any],
               context: CardContext) -> str | None:
        """Record an outcome; return the next card id, or None when the turn stops here.

        ``context`` is the one the card was played with: texts are rendered with it, or with a
        fresh one when the outcome set lead fields (a text may name them)."""
        state = turn.state
        if outcome.set_fields:
            turn.lead_updates.update(outcome.set_fields)
            if "lead.email" in outcome.set_fields and not state.lead_captured:
                state.lead_captured = True
                turn.events.append(("lead_captured", {"email": outcome.set_fields["lead.email"]}))
            context = self._context(turn, card, lead, visit)
        lookup = context.attribute
        for text in outcome.say:
            turn.frames.append(self._frame(turn, "message", card, text=render(text, lookup), delay=self.delay))
        if outcome.attachment is not None and outcome.say:
            turn.frames[-1]["attachment"] = dict(outcome.attachment)
        for name, data in outcome.events:
            if name == "goal_reached":
                state.goals.append(str(data.get("goal")))
            turn.events.append((name, dict(data)))
        if outcome.remember is not None:
            state.memory[card.id] = dict(outcome.remember)
        if outcome.ask is not None:
            state.card = card.id
            frame = self._frame(turn, "question", card, text=render(outcome.ask.text, lookup), delay=self.delay,
                                input={"kind": outcome.ask.kind, **outcome.ask.fields})
            state.awaiting = frame["id"]
            turn.frames.append(frame)
            return None
        if outcome.effect is not None:
            state.card = card.id
            state.pending = {"kind": outcome.effect.kind, "data": dict(outcome.effect.data)}
            return None
        state.memory.pop(card.id, None)
        if outcome.end:
            self._complete(turn)
            return None
        return outcome.next or self.dialogue.following(card)

    def _complete(self, turn: Turn) -> None:
        turn.state.status = "completed"
        turn.state.card = turn.state.awaiting = None
        turn.events.append(("completed", {}))

    # -- helpers ----------------------------------------------------------------------------------

    def _type(self, card: Card) -> Any:
        return self.card_types[card.type]

    @staticmethod
    def _frame(turn: Turn, kind: str, card: Card, **fields: Any) -> dict[str, Any]:
        """A message or question frame with the next step number in its id."""
        turn.state.step += 1
        return {"type": kind, "id": f"{card.id}:{turn.state.step}", "card": card.id, **fields}

    def _context(self, turn: Turn, card: Card, lead: Mapping[str, Any], visit: Mapping[str, Any]) -> CardContext:
        """What ``card`` may read: the lead with this turn's updates applied, answers, the visit,
        the session's language."""
        default = self.dialogue.default_language
        return CardContext(lead={**lead, **turn.lead_updates}, answers=turn.state.answers, visit=visit,
                           memory=turn.state.memory.get(card.id, {}), language=turn.state.language or default,
                           default_language=default, catalog=self.catalog)


def _copy(state: State) -> State:
    return State(**state.to_json())  # to_json copies every dict and list the state holds


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(field.name for field in attrs.fields(cls))

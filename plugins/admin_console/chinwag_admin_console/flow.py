"""A dialogue's flow as the console draws it: each card with its text and the ways out of it
(buttons, branch rules, otherwise, the default way on), and where each leads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

END_LABEL = "end of the dialogue"


@attrs.frozen
class Way:
    """One way out of a card: what takes it (a button, a rule) and the card it leads to."""

    label: str
    target: str  # a card id, or "end"


@attrs.frozen
class FlowCard:
    """A card of the diagram, with its funnel figures when it asks something."""

    id: str
    type: str
    text: str
    ways: tuple[Way, ...]
    funnel: Mapping[str, int] | None


def said(text: Any, first_only: bool = False) -> str:
    """A text of the dialogue as one line: a plain string, or each language's (``en: Hi · es: Hola``);
    with ``first_only`` the first language's alone (a button's label, where space is short)."""
    if isinstance(text, Mapping):
        if first_only:
            return str(next(iter(text.values()), ""))
        return " · ".join(f"{language}: {value}" for language, value in text.items())
    return "" if text is None else str(text)


def _condition(rule: Mapping[str, Any]) -> str:
    condition = rule.get("if")
    if isinstance(condition, Mapping) and "attribute" in condition:
        value = condition.get("value")
        return " ".join(str(part) for part in (condition["attribute"], condition.get("op", "is"), value) if part is not None)
    return "a condition"


def flow(dialogue: Any, funnel: list[Mapping[str, Any]]) -> list[FlowCard]:
    """The dialogue's cards in order with their ways out and funnel rows (by card id)."""
    by_card = {row["card"]: row for row in funnel}
    cards = []
    for card in dialogue.cards:
        default = dialogue.following(card)
        ways: list[Way] = []
        if card.type == "question":
            for button in card.get("buttons") or []:
                if isinstance(button, Mapping):
                    ways.append(Way(f"“{said(button.get('label'), first_only=True)}”", str(button.get("next") or default)))
        elif card.type == "branch":
            for rule in card.get("rules") or []:
                if isinstance(rule, Mapping) and rule.get("next"):
                    ways.append(Way(f"if {_condition(rule)}", str(rule["next"])))
            ways.append(Way("otherwise", str(card.get("otherwise") or default)))
        elif card.type != "end":
            ways.append(Way("then", str(default)))
        text = card.get("text") or card.get("goal") or ""
        cards.append(FlowCard(card.id, card.type, said(text), tuple(ways), by_card.get(card.id)))
    return cards

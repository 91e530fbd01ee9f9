"""Checks that need the registries: card types, where each card leads, attributes, tokens.

``chinwag validate`` and ``chinwag serve`` run the same checks; any problem stops ``serve``.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from .dialogue import END, Card, Dialogue, load_dialogue
from .problems import Problem
from .targeting.rules import check_targeting
from .text import tokens

if TYPE_CHECKING:
    from .app import Chinwag


def check_project(app: Chinwag) -> tuple[dict[str, Dialogue], list[Problem]]:
    """Load and check every dialogue of the project; return those that are valid and all problems."""
    directory = app.config.dialogues_dir
    problems: list[Problem] = []
    dialogues: dict[str, Dialogue] = {}
    if not directory.is_dir():
        return {}, [Problem(str(directory), None, "", "missing: a project needs a dialogues/ folder")]
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    for path in files:
        dialogue, found = load_dialogue(path)
        if dialogue is None:
            problems.extend(found)
            continue
        found = check_dialogue(dialogue, app.cards, app.attributes)
        if dialogue.id in dialogues:
            found.append(Problem(dialogue.source, None, f"dialogue {dialogue.id!r}",
                                 f"another dialogue has the same id ({dialogues[dialogue.id].source})"))
        problems.extend(found)
        if not found:
            dialogues[dialogue.id] = dialogue
    return dialogues, problems


def check_dialogue(dialogue: Dialogue, card_types: Any, attributes: Any) -> list[Problem]:
    """Every problem of one parsed dialogue."""
    problems: list[Problem] = []

    def problem(card: Card | None, message: str) -> None:
        where = f"dialogue {dialogue.id!r}" + (f", card {card.id!r}" if card else "")
        problems.append(Problem(dialogue.source, card.line if card else None, where, message))

    for line, where, message in check_targeting(dialogue.targeting, attributes):
        problems.append(Problem(dialogue.source, line, f"dialogue {dialogue.id!r}" + (f", {where}" if where else ""), message))
    for card in dialogue.cards:
        card_type = card_types.get(card.type)
        if card_type is None:
            problem(card, f"unknown card type {card.type!r} (known: {', '.join(card_types.names())}); "
                          "if a plugin provides it, is that plugin installed?")
            continue
        for message in card_type.check(card, dialogue, attributes):
            problem(card, message)
        for target in _targets(dialogue, card, card_type):
            if target != END and not dialogue.has_card(target):
                problem(card, f"'next' points to {target!r}, but there is no card with that id")
        for text in (card.get("text"),) if isinstance(card.get("text"), str) else ():
            for name in tokens(text):
                if name not in attributes and not (name.startswith("answer.") and dialogue.has_card(name[7:])):
                    problem(card, f"token {{{{{name}}}}} names an unknown attribute")
    if problems:
        return problems
    for card in _unreachable(dialogue, card_types):
        problem(card, "unreachable: no card leads here")
    return problems


def _targets(dialogue: Dialogue, card: Card, card_type: Any) -> list[str]:
    """Where a card may go, with the default way on resolved to a card id (or ``end``)."""
    return [dialogue.following(card) if target is None else target for target in card_type.targets(card)]


def _unreachable(dialogue: Dialogue, card_types: Any) -> list[Card]:
    seen = {dialogue.start.id}
    queue = deque([dialogue.start])
    while queue:
        card = queue.popleft()
        for target in _targets(dialogue, card, card_types[card.type]):
            if target != END and target not in seen:
                seen.add(target)
                queue.append(dialogue.card(target))
    return [card for card in dialogue.cards if card.id not in seen]

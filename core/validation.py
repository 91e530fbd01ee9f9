"""Checks that need the registries: card types, where each card leads, attributes, tokens.

``chinwag validate`` and ``chinwag serve`` run the same checks; any problem stops ``serve``.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from .dialogue import END, Card, Dialogue, load_dialogue
from .languages.catalog import Catalog
from .languages.state import language_settings
from .languages.texts import texts
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
    languages = language_settings(app)
    for path in files:
        dialogue, found = load_dialogue(path, languages.default)
        if dialogue is None:
            problems.extend(found)
            continue
        found = check_dialogue(dialogue, app.cards, app.attributes, languages.catalog)
        if dialogue.id in dialogues:
            found.append(Problem(dialogue.source, None, f"dialogue {dialogue.id!r}",
                                 f"another dialogue has the same id ({dialogues[dialogue.id].source})"))
        problems.extend(found)
        if not found:
            dialogues[dialogue.id] = dialogue
    return dialogues, problems


def check_dialogue(dialogue: Dialogue, card_types: Any, attributes: Any, catalog: Catalog | None = None) -> list[Problem]:
    """Every problem of one parsed dialogue (``catalog``: the project's, when its languages are to
    be checked against it)."""
    problems: list[Problem] = []

    def problem(card: Card | None, message: str) -> None:
        where = f"dialogue {dialogue.id!r}" + (f", card {card.id!r}" if card else "")
        line = getattr(message, "line", None) or (card.line if card else None)  # a MessageAt names its own
        problems.append(Problem(dialogue.source, line, where, str(message)))

    for language in dialogue.languages:
        if catalog is not None and not catalog.serves(language):
            problems.append(Problem(dialogue.source, None, f"dialogue {dialogue.id!r}",
                                    f"language {language!r} has no catalog for the widget's labels and messages: "
                                    f"add its entries under languages.catalog.{language} in chinwag.yaml, or in "
                                    f"catalogs/{language}.yaml (shipped: {', '.join(catalog.languages)})"))
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
        for text in texts(card.get("text")):
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

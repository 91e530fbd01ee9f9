"""The built-in card types, registered through ``register_cards`` like any plugin's.

message, question (buttons), capture (text, email or phone), branch, goal, end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

from . import conditions
from .cards import CardContext, Outcome, Question
from .dialogue import Card, Dialogue
from .hookspecs import hookimpl
from .languages.texts import check_localised, check_text, localise, text_checker
from .problems import MessageAt
from .validate_input import INPUT_KINDS, MARKUP_POLICIES, MAX_ANSWER, validate_input
from .yamlfile import line_of


def _field_problem(card: Card, attributes: Any) -> list[str]:
    field = card.get("field")
    if field is None:
        return []
    attribute = attributes.get(field) if isinstance(field, str) else None
    if attribute is None:
        return [f"'field' maps to unknown attribute {field!r} (declare it under 'attributes:' in chinwag.yaml, or install the plugin that provides it)"]
    if not attribute.writable:
        return [f"'field' maps to {field!r}, which is read-only (only lead.* and company.* can be written)"]
    return []


def _unknown_options(card: Card, allowed: set[str]) -> list[str]:
    return [f"unknown option {key!r}" for key in sorted(set(card.options) - allowed - {"delay"}, key=str)]


class MessageCard:
    """A statement; no answer needed."""

    name = "message"

    def check(self, card: Card, dialogue: Dialogue, attributes: Any) -> list[str]:
        """Needs ``text``."""
        return check_text(card, "text", dialogue) + _unknown_options(card, {"text"})

    def enter(self, card: Card, context: CardContext) -> Outcome:
        """Say the text and go on."""
        return Outcome(say=(context.localise(card.get("text")),))

    def receive(self, card: Card, context: CardContext, value: Any) -> Outcome:
        """Never asked anything."""
        raise AssertionError("a message card asks nothing")

    def targets(self, card: Card) -> list[str | None]:
        """Its default way on."""
        return [None]


class QuestionCard:
    """Multiple choice: each button shows a label and stores a value (the label by default, in the
    dialogue's default language)."""

    name = "question"

    def check(self, card: Card, dialogue: Dialogue, attributes: Any) -> list[str]:
        """Needs ``text`` and at least one button with a label; stored values must be unique."""
        problems = check_text(card, "text", dialogue) + _field_problem(card, attributes) + _unknown_options(card, {"text", "buttons", "field"})
        buttons = card.get("buttons")
        if not isinstance(buttons, list) or not buttons:
            return problems + ["'buttons' must be a non-empty list of {label, value, next}"]
        seen: set[str] = set()
        for index, button in enumerate(buttons):
            line = line_of(buttons, index) or card.line_of("buttons")
            if not isinstance(button, Mapping) or button.get("label") is None:
                problems.append(MessageAt(f"button #{index + 1} needs a 'label'", line))
                continue
            label_problems = check_localised(button["label"], f"button #{index + 1}'s 'label'", dialogue,
                                             line_of(button, "label") or line, text_checker())
            if label_problems:
                problems.extend(label_problems)
                continue
            value = _button_value(button, dialogue.default_language)
            if value in seen:
                problems.append(MessageAt(f"button #{index + 1} stores {value!r}, like an earlier button", line))
            seen.add(value)
            if set(button) - {"label", "value", "next"}:
                problems.append(MessageAt(f"button #{index + 1} has unknown keys {sorted(set(button) - {'label', 'value', 'next'})}", line))
        return problems

    def enter(self, card: Card, context: CardContext) -> Outcome:
        """Ask, offering one option per button."""
        options = [{"id": _button_value(button, context.default_language), "label": context.localise(button["label"])}
                   for button in card.get("buttons")]
        return Outcome(ask=Question("buttons", context.localise(card.get("text")), {"options": options}))

    def receive(self, card: Card, context: CardContext, value: Any) -> Outcome:
        """Accept the id of one of the buttons; store its value and follow its ``next``."""
        for button in card.get("buttons"):
            stored = _button_value(button, context.default_language)
            if stored == value:
                stored = button.get("value", stored)
                fields = {card.get("field"): stored} if card.get("field") else {}
                return Outcome(answer=stored, answer_text=context.localise(button["label"]), set_fields=fields,
                               next=button.get("next"))
        return Outcome(invalid=context.message("choose_option"))

    def targets(self, card: Card) -> list[str | None]:
        """Each button's ``next``; None for a button that takes the default way on."""
        return [button.get("next") for button in card.get("buttons") or [] if isinstance(button, Mapping)]


def _button_value(button: Mapping[str, Any], default_language: str) -> str:
    """The button's id and stored value: its ``value``, else its label in the default language."""
    value = button.get("value")
    return str(value if value is not None else localise(button["label"], default_language, default_language))


def _picklist_problem(picklist: Any) -> str | None:
    if not isinstance(picklist, list) or not all(isinstance(item, str) for item in picklist):
        return "must be a list of strings"
    return None


class CaptureCard:
    """Information capture: free text, an email address or a phone number, optionally stored."""

    name = "capture"
    OPTIONS = {"text", "input", "placeholder", "picklist", "field", "skip_if_known", "overwrite", "max_length", "markup"}

    def check(self, card: Card, dialogue: Dialogue, attributes: Any) -> list[str]:
        """Needs ``text``; ``input`` is text, email or phone; picklist is a list of strings;
        ``max_length`` is 1 to ``MAX_ANSWER``; ``markup`` is refuse, strip or allow."""
        problems = check_text(card, "text", dialogue) + _field_problem(card, attributes) + _unknown_options(card, self.OPTIONS)
        problems += check_text(card, "placeholder", dialogue, required=False, every_language=False)
        if card.get("input", "text") not in INPUT_KINDS:
            problems.append(f"'input' must be one of {', '.join(INPUT_KINDS)}")
        problems += check_localised(card.get("picklist"), "'picklist'", dialogue, card.line_of("picklist"),
                                    _picklist_problem, required=False, every_language=False)
        for flag in ("skip_if_known", "overwrite"):
            if not isinstance(card.get(flag, False), bool):
                problems.append(f"'{flag}' must be true or false")
        max_length = card.get("max_length", MAX_ANSWER)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or not 1 <= max_length <= MAX_ANSWER:
            problems.append(f"'max_length' must be a whole number from 1 to {MAX_ANSWER}")
        if card.get("markup", "refuse") not in MARKUP_POLICIES:
            problems.append(f"'markup' must be one of {', '.join(MARKUP_POLICIES)}")
        if card.get("skip_if_known") and not card.get("field"):
            problems.append("'skip_if_known' needs a 'field' to look at")
        return problems

    def enter(self, card: Card, context: CardContext) -> Outcome:
        """Ask, unless the lead already has the value and the card says to skip then."""
        field = card.get("field")
        if card.get("skip_if_known") and field and context.attribute(field) not in (None, ""):
            return Outcome()
        fields = {key: context.localise(card.get(key)) for key in ("placeholder", "picklist") if card.get(key) is not None}
        return Outcome(ask=Question(card.get("input", "text"), context.localise(card.get("text")), fields))

    def receive(self, card: Card, context: CardContext, value: Any) -> Outcome:
        """Validate the input; store it in ``field`` unless the card says not to overwrite."""
        result = validate_input(card.get("input", "text"), value, context.visit.get("visit.locale"),
                                max_length=card.get("max_length", MAX_ANSWER), markup=card.get("markup", "refuse"))
        if result.error is not None:
            return Outcome(invalid=context.message(result.error, **result.error_values))
        field = card.get("field")
        keep_existing = not card.get("overwrite", True) and field and context.attribute(field) not in (None, "")
        fields = {field: result.value} if field and not keep_existing else {}
        return Outcome(answer=result.value, answer_text=result.value, set_fields=fields)

    def targets(self, card: Card) -> list[str | None]:
        """Its default way on."""
        return [None]


class BranchCard:
    """Goes to the first rule whose condition holds, else to ``otherwise`` (else to ``next``)."""

    name = "branch"

    def check(self, card: Card, dialogue: Dialogue, attributes: Any) -> list[str]:
        """Each rule has an ``if`` condition on known attributes or answers, and a ``next``."""
        problems = _unknown_options(card, {"rules", "otherwise"})
        rules = card.get("rules")
        if not isinstance(rules, list) or not rules:
            return problems + ["'rules' must be a non-empty list of {if: condition, next: card}"]
        known = _known(dialogue, attributes)
        for index, rule in enumerate(rules):
            where = f"rule #{index + 1}"
            if not isinstance(rule, Mapping) or "if" not in rule or not isinstance(rule.get("next"), str):
                problems.append(f"{where} needs 'if' (a condition) and 'next' (a card id)")
                continue
            problems.extend(conditions.check(rule["if"], known, where))
            problems.extend(conditions.looked_up_only(rule["if"], attributes, where))
        if card.get("otherwise") is not None and not isinstance(card.get("otherwise"), str):
            problems.append("'otherwise' must be a card id")
        return problems

    def enter(self, card: Card, context: CardContext) -> Outcome:
        """Pick the way on; nothing is shown."""
        for rule in card.get("rules"):
            if conditions.evaluate(rule["if"], context.attribute):
                return Outcome(next=rule["next"])
        return Outcome(next=card.get("otherwise"))

    def receive(self, card: Card, context: CardContext, value: Any) -> Outcome:
        """Never asked anything."""
        raise AssertionError("a branch card asks nothing")

    def targets(self, card: Card) -> list[str | None]:
        """Every rule's ``next``, and ``otherwise`` (None: the default way on)."""
        rules = card.get("rules") if isinstance(card.get("rules"), list) else []
        found = [rule["next"] for rule in rules if isinstance(rule, Mapping) and isinstance(rule.get("next"), str)]
        return found + [card.get("otherwise") if isinstance(card.get("otherwise"), str) else None]


def _known(dialogue: Dialogue, attributes: Any) -> Callable[[str], bool]:
    def known(name: str) -> bool:
        if name.startswith("answer."):
            return dialogue.has_card(name[len("answer."):])
        return name in attributes
    return known


class GoalCard:
    """Invisible: records that the visitor reached a named goal."""

    name = "goal"

    def check(self, card: Card, dialogue: Dialogue, attributes: Any) -> list[str]:
        """Needs a ``goal`` name."""
        goal, problems = card.get("goal"), _unknown_options(card, {"goal"})
        if goal is None:
            return ["'goal' is required", *problems]
        if not isinstance(goal, str) or not goal.strip():
            return ["'goal' must be non-empty text", *problems]
        return problems

    def enter(self, card: Card, context: CardContext) -> Outcome:
        """Emit ``goal_reached``."""
        return Outcome(events=(("goal_reached", {"goal": card.get("goal")}),))

    def receive(self, card: Card, context: CardContext, value: Any) -> Outcome:
        """Never asked anything."""
        raise AssertionError("a goal card asks nothing")

    def targets(self, card: Card) -> list[str | None]:
        """Its default way on."""
        return [None]


class EndCard:
    """Ends the dialogue, optionally with a last message."""

    name = "end"

    def check(self, card: Card, dialogue: Dialogue, attributes: Any) -> list[str]:
        """``text`` is optional; ``next`` makes no sense here."""
        problems = check_text(card, "text", dialogue, required=False) + _unknown_options(card, {"text"})
        if card.next is not None:
            problems.append("an end card has no 'next'")
        return problems

    def enter(self, card: Card, context: CardContext) -> Outcome:
        """Say goodbye (if there is text) and complete."""
        return Outcome(say=(context.localise(card.get("text")),) if card.get("text") else (), end=True)

    def receive(self, card: Card, context: CardContext, value: Any) -> Outcome:
        """Never asked anything."""
        raise AssertionError("an end card asks nothing")

    def targets(self, card: Card) -> list[str | None]:
        """Nowhere: the dialogue ends here."""
        return []


BUILT_IN = (MessageCard(), QuestionCard(), CaptureCard(), BranchCard(), GoalCard(), EndCard())


@hookimpl
def register_cards(register: Callable[[Any], Any]) -> None:
    """The built-in cards."""
    for card_type in BUILT_IN:
        register(card_type)

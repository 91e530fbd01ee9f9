"""Conditions on attributes and answers, as branch cards (and targeting) write them.

    {attribute: company.size, op: gt, value: 50}
    {all: [condition, ...]}      every one holds
    {any: [condition, ...]}      at least one holds

``attribute`` is a registered attribute (``lead.email``, ``company.size``, ``visit.page_url``)
or ``answer.<card id>`` for the stored value of an earlier question.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .yamlfile import line_of

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "is": lambda actual, expected: _text(actual) == _text(expected),
    "is_not": lambda actual, expected: _text(actual) != _text(expected),
    "is_empty": lambda actual, _: actual in (None, "", []),
    "is_not_empty": lambda actual, _: actual not in (None, "", []),
    "gt": lambda actual, expected: _compare(actual, expected, lambda a, b: a > b),
    "gte": lambda actual, expected: _compare(actual, expected, lambda a, b: a >= b),
    "lt": lambda actual, expected: _compare(actual, expected, lambda a, b: a < b),
    "lte": lambda actual, expected: _compare(actual, expected, lambda a, b: a <= b),
    "contains": lambda actual, expected: actual is not None and _text(expected) in _text(actual),
    "starts_with": lambda actual, expected: actual is not None and _text(actual).startswith(_text(expected)),
    "ends_with": lambda actual, expected: actual is not None and _text(actual).endswith(_text(expected)),
    "in": lambda actual, expected: _text(actual) in {_text(item) for item in expected},
    "not_in": lambda actual, expected: _text(actual) not in {_text(item) for item in expected},
}
VALUELESS = {"is_empty", "is_not_empty"}
LIST_VALUED = {"in", "not_in"}
NUMERIC = {"gt", "gte", "lt", "lte"}


def _text(value: Any) -> str:
    # Comparisons are case-insensitive on text, as marketers expect ("CA" is "ca").
    return "" if value is None else str(value).strip().casefold()


def _compare(actual: Any, expected: Any, relation: Callable[[float, float], bool]) -> bool:
    try:
        return relation(float(actual), float(expected))
    except (TypeError, ValueError):
        return False


def evaluate(condition: Mapping[str, Any], lookup: Callable[[str], Any]) -> bool:
    """Whether ``condition`` holds; ``lookup(name)`` gives an attribute's or answer's value."""
    if "all" in condition:
        return all(evaluate(part, lookup) for part in condition["all"])
    if "any" in condition:
        return any(evaluate(part, lookup) for part in condition["any"])
    operator = OPERATORS[condition.get("op", "is")]
    return operator(lookup(condition["attribute"]), condition.get("value"))


def attribute_names(condition: Any) -> set[str]:
    """Every attribute a condition names, in all its groups."""
    if not isinstance(condition, Mapping):
        return set()
    for group in ("all", "any"):
        if isinstance(condition.get(group), list):
            return set().union(*(attribute_names(part) for part in condition[group]))
    return {condition["attribute"]} if isinstance(condition.get("attribute"), str) else set()


def looked_up_only(condition: Any, attributes: Any, where: str) -> list[str]:
    """A problem for each attribute of ``condition`` whose value is looked up (``Attribute.lookup``):
    only targeting awaits lookups, so anywhere else the condition could never see a value."""
    return [f"{where}: attribute {name!r} is looked up only to target a dialogue (targeting.audience); "
            "it has no value here" for name in sorted(attribute_names(condition))
            if getattr(attributes.get(name), "lookup", None) is not None]


def check(condition: Any, known: Callable[[str], bool], where: str = "condition") -> list[str]:
    """Problems with a condition's shape; ``known(name)`` says whether an attribute exists."""
    return [message for _, message in located_problems(condition, known, where)]


def located_problems(condition: Any, known: Callable[[str], bool],
                     where: str = "condition") -> list[tuple[int | None, str]]:
    """Like ``check``, each problem with the line of the condition it is about (when the
    condition was read from YAML)."""
    if not isinstance(condition, Mapping):
        return [(None, f"{where} must be a mapping with attribute/op/value, or all/any")]

    def at(key: str, message: str) -> tuple[int | None, str]:
        return line_of(condition, key), message

    for group in ("all", "any"):
        if group in condition:
            parts = condition[group]
            if set(condition) != {group} or not isinstance(parts, list) or not parts:
                return [at(group, f"{where}: '{group}' takes a non-empty list of conditions and nothing beside it")]
            found = []
            for index, part in enumerate(parts):
                for line, message in located_problems(part, known, f"{where}.{group}[{index}]"):
                    found.append((line if line is not None else line_of(parts, index), message))
            return found
    problems = []
    attribute = condition.get("attribute")
    if not isinstance(attribute, str):
        return [at("attribute", f"{where}: 'attribute' is required")]
    if not known(attribute):
        problems.append(at("attribute", f"{where}: unknown attribute {attribute!r}"))
    operator = condition.get("op", "is")
    if operator not in OPERATORS:
        problems.append(at("op", f"{where}: unknown op {operator!r} (one of {', '.join(OPERATORS)})"))
    elif operator not in VALUELESS and "value" not in condition:
        problems.append(at("op", f"{where}: op {operator!r} needs a 'value'"))
    elif operator in LIST_VALUED and not isinstance(condition.get("value"), list):
        problems.append(at("value", f"{where}: op {operator!r} needs a list 'value'"))
    elif operator in NUMERIC and not _is_number(condition.get("value")):
        problems.append(at("value", f"{where}: op {operator!r} compares numbers: 'value' must be a number"))
    unknown = set(condition) - {"attribute", "op", "value"}
    if unknown:
        key = sorted(map(str, unknown))[0]
        problems.append(at(key, f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}"))
    return problems


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, bool)

"""A dialogue's ``targeting:``: who sees it, on which pages, and when.

    targeting:
      include: ["https://*.example.com/pricing/*", /blog/*, utm_campaign=spring]
      exclude: [/pricing/enterprise]
      audience:                       # a condition of chinwag.conditions: groups with all/any
        any:
          - all: [{attribute: company.size, op: gt, value: 50}, {attribute: visit.country, op: is, value: US}]
          - {attribute: lead.email, op: is_empty}
      trigger: {time_on_page: 20, scroll: 50}   # shown once every listed condition holds

Checked keys with their lines (``check_targeting``) and the compiled form sessions use
(``Targeting``): page rules from ``chinwag.targeting.pages``, the audience as a condition.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .. import conditions
from ..yamlfile import line_of
from .pages import PageRules, PatternError, parse_pattern

TARGETING_KEYS = ("include", "exclude", "audience", "trigger")
# trigger key: (what it measures, smallest, largest)
TRIGGERS: dict[str, tuple[str, float, float]] = {
    "time_on_page": ("seconds on the page", 0, 3600),
    "time_on_site": ("seconds on the site in this visit", 0, 86400),
    "scroll": ("percent of the page scrolled", 1, 100),
}
EXIT_INTENT = "exit_intent"


@attrs.frozen
class Targeting:
    """A dialogue's compiled targeting: pages, audience (a condition or None) and trigger rules."""

    pages: PageRules = attrs.field(factory=PageRules)
    audience: Mapping[str, Any] | None = None
    trigger: Mapping[str, Any] = attrs.field(factory=dict)
    _names: frozenset[str] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_names", frozenset(_names(self.audience)) if self.audience is not None else frozenset())

    @classmethod
    def compile(cls, targeting: Mapping[str, Any]) -> Targeting:
        """The compiled form of a checked ``targeting:`` mapping."""
        return cls(PageRules.parse(targeting.get("include") or (), targeting.get("exclude") or ()),
                   targeting.get("audience"), dict(targeting.get("trigger") or {}))

    def attribute_names(self) -> frozenset[str]:
        """Every attribute the audience names."""
        return self._names


def _names(condition: Mapping[str, Any]) -> set[str]:
    for group in ("all", "any"):
        if group in condition:
            return set().union(*(_names(part) for part in condition[group]))
    return {condition["attribute"]}


def check_targeting(targeting: Mapping[str, Any], attributes: Any) -> list[tuple[int | None, str, str]]:
    """Every problem of a ``targeting:`` mapping as (line, where, message); ``where`` is empty
    when the message names the place itself."""
    problems: list[tuple[int | None, str, str]] = []

    def problem(node: Any, key: Any, where: str, message: str) -> None:
        problems.append((line_of(node, key), where, message))

    for key in sorted(set(targeting) - set(TARGETING_KEYS), key=str):
        problem(targeting, key, f"targeting.{key}", f"unknown key {key!r} (known: {', '.join(TARGETING_KEYS)})")
    for key in ("include", "exclude"):
        if key not in targeting:
            continue
        patterns = targeting[key]
        if not isinstance(patterns, list) or not patterns:
            problem(targeting, key, f"targeting.{key}",
                    "must be a non-empty list of page patterns (leave 'include' out to target every page)")
            continue
        for index, pattern in enumerate(patterns):
            try:
                parse_pattern(pattern)
            except PatternError as error:
                problem(patterns, index, f"targeting.{key}[{index}]", str(error))
    if "audience" in targeting:
        audience = targeting["audience"]

        def known(name: str) -> bool:
            return not name.startswith("answer.") and name in attributes

        for line, message in conditions.located_problems(audience, known, "targeting.audience"):
            problems.append((line if line is not None else line_of(targeting, "audience"), "", message))
    if "trigger" in targeting:
        problems += _check_trigger(targeting["trigger"], line_of(targeting, "trigger"))
    return problems


def _check_trigger(trigger: Any, line: int | None) -> list[tuple[int | None, str, str]]:
    if not isinstance(trigger, Mapping) or not trigger:
        return [(line, "targeting.trigger", "must map one or more of "
                 f"{', '.join([*TRIGGERS, EXIT_INTENT])} to a value, e.g. {{time_on_page: 20}}")]
    problems = []
    for key, value in trigger.items():
        where, at = f"targeting.trigger.{key}", line_of(trigger, key)
        if key == EXIT_INTENT:
            if value is not True:
                problems.append((at, where, "must be true (leave it out for no exit intent)"))
            continue
        if key not in TRIGGERS:
            problems.append((at, where, f"unknown trigger {key!r} (known: {', '.join([*TRIGGERS, EXIT_INTENT])})"))
            continue
        what, smallest, largest = TRIGGERS[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not smallest <= value <= largest:
            problems.append((at, where, f"must be a number of {what}, from {smallest:g} to {largest:g}"))
    return problems

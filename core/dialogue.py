"""The dialogue model and its loader: YAML in, frozen ``Dialogue`` objects out.

Structure is checked here (required keys, types, unique card ids); what needs the registries
(card types, attributes, where ``next`` points) is checked in ``chinwag.validation``.
"""

from __future__ import annotations

import datetime as dt

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .languages.locales import normalise
from .problems import Problem
from .yamlfile import YamlError, line_of, load_yaml

END = "end"  # ``next: end`` finishes the dialogue from any card


@attrs.frozen
class Card:
    """One card of a dialogue: its id, type, default next card and type-specific options."""

    id: str
    type: str
    next: str | None
    options: Mapping[str, Any]
    line: int | None = None
    lines: Mapping[str, int] = attrs.field(factory=dict, eq=False, repr=False)  # each option's line in the file

    def get(self, key: str, default: Any = None) -> Any:
        """A type-specific option."""
        return self.options.get(key, default)

    def line_of(self, key: str) -> int | None:
        """The line of option ``key`` in the dialogue's file (the card's line when unknown)."""
        return self.lines.get(key, self.line)


@attrs.frozen
class Dialogue:
    """A scripted conversation: metadata, targeting and a graph of cards."""

    id: str
    name: str
    version: int
    priority: int
    cards: tuple[Card, ...]
    targeting: Mapping[str, Any] = attrs.field(factory=dict)
    response_delay: float | None = None
    source: str = "<memory>"
    starts: dt.datetime | None = None  # not shown before this moment (UTC)
    ends: dt.datetime | None = None  # nor from this one on
    languages: tuple[str, ...] = ("en",)  # the languages its texts are written in
    default_language: str = "en"  # said to a visitor whose language is none of them
    _by_id: dict[str, Card] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {card.id: card for card in self.cards})

    def live(self, now: dt.datetime) -> bool:
        """Whether the dialogue runs at ``now``: within its ``starts`` and ``ends``, when it has them."""
        return (self.starts is None or self.starts <= now) and (self.ends is None or now < self.ends)

    @property
    def start(self) -> Card:
        """The first card."""
        return self.cards[0]

    def card(self, card_id: str) -> Card:
        """The card with this id (KeyError when there is none)."""
        return self._by_id[card_id]

    def has_card(self, card_id: str) -> bool:
        """Whether a card with this id exists."""
        return card_id in self._by_id

    def following(self, card: Card) -> str | None:
        """Where ``card`` goes by default: its ``next``, else the card after it, else the end."""
        if card.next is not None:
            return card.next
        index = self.cards.index(card)
        return self.cards[index + 1].id if index + 1 < len(self.cards) else END


_CARD_KEYS = {"id", "type", "next"}


def parse_dialogue(data: Any, source: str, default_language: str = "en") -> tuple[Dialogue | None, list[Problem]]:
    """Build a ``Dialogue`` from parsed YAML; return it (or None) with the problems found.

    ``default_language`` is the project's (``languages.default``): the language of a dialogue
    that names none."""
    problems: list[Problem] = []

    def problem(node: Any, key: Any, where: str, message: str) -> None:
        problems.append(Problem(source, line_of(node, key), where, message))

    if not isinstance(data, Mapping):
        return None, [Problem(source, None, "", "a dialogue file must be a mapping with id, name and cards")]
    dialogue_id = data.get("id")
    if not isinstance(dialogue_id, str) or not dialogue_id.strip():
        problem(data, "id", "", "'id' is required and must be a non-empty string")
        dialogue_id = Path(source).stem
    where = f"dialogue {dialogue_id!r}"
    name = data.get("name", dialogue_id)
    if not isinstance(name, str):
        problem(data, "name", where, "'name' must be a string")
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problem(data, "version", where, "'version' must be a whole number of at least 1")
    priority = data.get("priority", 100)
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 1:
        problem(data, "priority", where, "'priority' must be a whole number of at least 1 (1 is the highest)")
    targeting = data.get("targeting", {})
    if not isinstance(targeting, Mapping):
        problem(data, "targeting", where, "'targeting' must be a mapping")
        targeting = {}
    delay = data.get("response_delay")
    if delay is not None and (not isinstance(delay, (int, float)) or isinstance(delay, bool) or not 0 <= delay <= 30):
        problem(data, "response_delay", where, "'response_delay' must be a number of seconds from 0 to 30")
    starts, ends = (_moment(data, key, where, problem) for key in ("starts", "ends"))
    if starts is not None and ends is not None and ends <= starts:
        problem(data, "ends", where, "'ends' must come after 'starts'")
    languages, default_language = _languages(data, where, problem, default_language)
    unknown = set(data) - {"id", "name", "version", "priority", "targeting", "response_delay", "cards", "description",
                           "starts", "ends", "languages", "default_language"}
    for key in sorted(unknown, key=str):
        problem(data, key, where, f"unknown key {key!r}")

    raw_cards = data.get("cards")
    if not isinstance(raw_cards, list) or not raw_cards:
        problem(data, "cards", where, "'cards' must be a non-empty list of cards")
        raw_cards = []
    cards: list[Card] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_cards):
        line = line_of(raw_cards, index)
        if not isinstance(raw, Mapping):
            problems.append(Problem(source, line, f"{where}, card #{index + 1}", "a card must be a mapping"))
            continue
        card_id = raw.get("id")
        if not isinstance(card_id, str) or not card_id.strip():
            card_id = f"#{index + 1}"
            problem(raw, "id", f"{where}, card {card_id}", "'id' is required and must be a non-empty string")
        card_where = f"{where}, card {card_id!r}"
        if card_id in seen:
            problem(raw, "id", card_where, "another card already has this id")
        if card_id == END:
            problem(raw, "id", card_where, f"{END!r} is reserved: 'next: {END}' finishes the dialogue")
        seen.add(card_id)
        card_type = raw.get("type")
        if not isinstance(card_type, str):
            problem(raw, "type", card_where, "'type' is required (message, question, capture, branch, goal, end, ...)")
            card_type = ""
        next_id = raw.get("next")
        if next_id is not None and not isinstance(next_id, str):
            problem(raw, "next", card_where, "'next' must be a card id")
            next_id = None
        options = {key: value for key, value in raw.items() if key not in _CARD_KEYS}
        lines = {key: at for key in options if (at := line_of(raw, key)) is not None}
        cards.append(Card(card_id, card_type, next_id, options, line, lines))
    if problems:
        return None, problems
    dialogue = Dialogue(
        id=dialogue_id, name=name, version=version, priority=priority, cards=tuple(cards),
        targeting=targeting, response_delay=delay, source=source, starts=starts, ends=ends,
        languages=languages, default_language=default_language,
    )
    return dialogue, problems


def _moment(data: Mapping[str, Any], key: str, where: str, problem: Any) -> dt.datetime | None:
    """``starts`` or ``ends``: a date (midnight UTC) or a date and time (UTC unless it says), or None."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            problem(data, key, where, f"'{key}' must be a date like 2026-12-01 or a time like 2026-12-01T09:00:00Z")
            return None
    return moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment.astimezone(dt.timezone.utc)


def _languages(data: Mapping[str, Any], where: str, problem: Any, project_default: str) -> tuple[tuple[str, ...], str]:
    """``languages`` (locale codes, written as chinwag writes them) and ``default_language`` (one
    of them; the first when left out). Without ``languages`` the dialogue speaks its default
    language alone, the project's unless it says."""
    declared = data.get("languages")
    languages: list[str] = []
    if declared is not None and (not isinstance(declared, list) or not declared):
        problem(data, "languages", where, "'languages' must be a non-empty list of locale codes, like [en, es]")
    elif declared is not None:
        for index, code in enumerate(declared):
            wrong = _locale_problem(code, f"'languages' #{index + 1}")
            if wrong:
                problem(declared, index, where, wrong)
            elif code in languages:
                problem(declared, index, where, f"'languages' names {code!r} twice")
            else:
                languages.append(code)
    default = data.get("default_language")
    if default is not None:
        wrong = _locale_problem(default, "'default_language'")
        if wrong is None and languages and default not in languages:
            wrong = f"'default_language' must be one of 'languages' ({', '.join(languages)})"
        if wrong:
            problem(data, "default_language", where, wrong)
            default = None
    default = default or (languages[0] if languages else project_default)
    return tuple(languages or [default]), default


def _locale_problem(code: Any, name: str) -> str | None:
    """What is wrong with a locale code (unknown, or not written as chinwag writes it), or None."""
    normal = normalise(code)
    if normal is None:
        return f"{name}: {code!r} is not a locale code (like en, es or pt-BR)"
    if normal != code:
        return f"{name}: write {normal!r} instead of {code!r}"
    return None


def load_dialogue(path: Path, default_language: str = "en") -> tuple[Dialogue | None, list[Problem]]:
    """Read and parse one dialogue file (``default_language``: the project's)."""
    try:
        data = load_yaml(path)
    except YamlError as error:
        return None, [Problem(str(path), error.line, "", error.message)]
    return parse_dialogue(data, str(path), default_language)

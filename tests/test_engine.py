"""The engine without a server: cards, tokens, branching, re-prompts, events."""

from __future__ import annotations

from typing import Any

import pytest

from chinwag.default_attributes import STANDARD
from chinwag.default_cards import BUILT_IN
from chinwag.dialogue import parse_dialogue
from chinwag.engine import Engine, EngineError
from chinwag.plugins import Registry
from chinwag.validation import check_dialogue

VISIT = {"visit.page_url": "https://example.com/pricing", "visit.locale": "en-GB"}


def registries() -> tuple[Registry, Registry]:
    cards, attributes = Registry("card type"), Registry("attribute")
    for card in BUILT_IN:
        cards.add(card, "chinwag.default_cards")
    for attribute in STANDARD:
        attributes.add(attribute, "chinwag.default_attributes")
    return cards, attributes


def engine_for(cards: list[dict[str, Any]], **extra: Any) -> Engine:
    dialogue, problems = parse_dialogue({"id": "d", "name": "D", "cards": cards, **extra}, "d.yaml")
    assert dialogue is not None and not problems, problems
    card_types, attributes = registries()
    assert check_dialogue(dialogue, card_types, attributes) == []
    return Engine(dialogue, card_types, default_delay=0.5)


class Visitor:
    """Plays a dialogue the way the session service does, keeping the lead between turns."""

    def __init__(self, engine: Engine, lead: dict[str, Any] | None = None) -> None:
        self.engine, self.lead = engine, dict(lead or {})
        turn = engine.start(self.lead, VISIT)
        self.state, self.frames, self.events = turn.state, list(turn.frames), [name for name, _ in turn.events]

    def answer(self, value: Any) -> list[dict[str, Any]]:
        turn = self.engine.answer(self.state, self.lead, VISIT, self.state.awaiting, value)
        self.state = turn.state
        self.lead.update(turn.lead_updates)
        self.frames += turn.frames
        self.events += [name for name, _ in turn.events]
        return turn.frames

    def texts(self) -> list[str]:
        return [frame["text"] for frame in self.frames if frame["type"] in ("message", "question")]


QUESTION = {"id": "q", "type": "question", "text": "Which?", "field": "lead.title",
            "buttons": [{"label": "Search Engine Optimization", "value": "SEO"}, {"label": "Other", "next": "other"}]}


def test_message_then_question_with_delay_and_tokens() -> None:
    visitor = Visitor(engine_for([
        {"id": "hi", "type": "message", "text": 'Hi {{lead.firstName:"there"}} from {{visit.page_url}}'},
        QUESTION, {"id": "other", "type": "end"},
    ]))
    assert visitor.texts() == ["Hi there from https://example.com/pricing", "Which?"]
    assert visitor.frames[0]["delay"] == 0.5
    assert visitor.frames[1]["input"] == {"kind": "buttons", "options": [
        {"id": "SEO", "label": "Search Engine Optimization"}, {"id": "Other", "label": "Other"}]}
    assert visitor.events == ["triggered"]


def test_known_lead_gets_their_name_instead_of_the_default() -> None:
    visitor = Visitor(engine_for([{"id": "hi", "type": "message", "text": 'Hi {{lead.firstName:"there"}}!'}]),
                      lead={"lead.firstName": "Grace"})
    assert visitor.texts() == ["Hi Grace!"]


def test_button_shows_label_stores_value_and_maps_field() -> None:
    visitor = Visitor(engine_for([QUESTION, {"id": "after", "type": "end", "text": "bye"}, {"id": "other", "type": "end"}]))
    frames = visitor.answer("SEO")
    assert frames[0] == {"type": "answered", "question": "q:1", "text": "Search Engine Optimization"}
    assert visitor.lead == {"lead.title": "SEO"}
    assert visitor.state.answers == {"q": "SEO"}
    assert visitor.texts()[-1] == "bye"
    assert visitor.events == ["triggered", "answered", "engaged", "completed"]


def test_button_next_jumps() -> None:
    visitor = Visitor(engine_for([QUESTION, {"id": "after", "type": "end", "text": "A"},
                                  {"id": "other", "type": "end", "text": "B"}]))
    visitor.answer("Other")
    assert visitor.texts()[-1] == "B"


def test_unknown_button_is_reprompted_and_nothing_changes() -> None:
    visitor = Visitor(engine_for([QUESTION, {"id": "other", "type": "end"}]))
    before = visitor.state.to_json()
    frames = visitor.answer("Nope")
    assert frames == [{"type": "invalid", "question": "q:1", "message": "Please choose one of the options."}]
    assert visitor.state.to_json() == before
    assert visitor.events == ["triggered"]


@pytest.mark.parametrize(("kind", "bad", "good", "stored"), [
    ("email", "ada@", "Ada@Example.com", "Ada@example.com"),
    ("phone", "12", "020 7946 0958", "+442079460958"),
    ("text", "   ", "Engineer", "Engineer"),
])
def test_capture_validates_then_stores(kind: str, bad: str, good: str, stored: str) -> None:
    visitor = Visitor(engine_for([{"id": "c", "type": "capture", "input": kind, "text": "?", "field": f"lead.{'title' if kind == 'text' else kind}"}]))
    assert visitor.answer(bad)[0]["type"] == "invalid"
    assert visitor.state.status == "active"
    visitor.answer(good)
    assert list(visitor.lead.values()) == [stored]
    assert visitor.state.status == "completed"


def test_valid_email_captures_the_lead_once() -> None:
    visitor = Visitor(engine_for([
        {"id": "a", "type": "capture", "input": "email", "text": "Email?", "field": "lead.email"},
        {"id": "b", "type": "capture", "input": "email", "text": "Again?", "field": "lead.email"},
    ]))
    visitor.answer("a@example.com")
    visitor.answer("b@example.com")
    assert visitor.events.count("lead_captured") == 1
    assert visitor.lead["lead.email"] == "b@example.com"


def test_skip_if_known_skips_the_question() -> None:
    cards = [{"id": "name", "type": "capture", "text": "Name?", "field": "lead.firstName", "skip_if_known": True},
             {"id": "bye", "type": "end", "text": 'Bye {{lead.firstName}}'}]
    assert Visitor(engine_for(cards), lead={"lead.firstName": "Ada"}).texts() == ["Bye Ada"]
    assert Visitor(engine_for(cards)).texts() == ["Name?"]


def test_overwrite_false_keeps_the_known_value() -> None:
    visitor = Visitor(engine_for([{"id": "c", "type": "capture", "text": "Title?", "field": "lead.title", "overwrite": False}]),
                      lead={"lead.title": "CTO"})
    visitor.answer("Intern")
    assert visitor.lead["lead.title"] == "CTO"
    assert visitor.state.answers["c"] == "Intern"


def test_branch_on_answer_and_on_company_attribute() -> None:
    cards = [
        {"id": "size", "type": "question", "text": "Size?", "buttons": [{"label": "Small"}, {"label": "Large"}]},
        {"id": "route", "type": "branch", "rules": [
            {"if": {"any": [{"attribute": "answer.size", "op": "is", "value": "large"},
                            {"attribute": "company.size", "op": "gt", "value": 500}]}, "next": "enterprise"}],
         "otherwise": "smb"},
        {"id": "enterprise", "type": "end", "text": "enterprise"},
        {"id": "smb", "type": "end", "text": "smb"},
    ]
    large = Visitor(engine_for(cards))
    large.answer("Large")
    small = Visitor(engine_for(cards))
    small.answer("Small")
    known_big = Visitor(engine_for(cards), lead={"company.size": 1000})
    known_big.answer("Small")
    assert (large.texts()[-1], small.texts()[-1], known_big.texts()[-1]) == ("enterprise", "smb", "enterprise")


def test_goal_is_invisible_and_recorded() -> None:
    visitor = Visitor(engine_for([{"id": "g", "type": "goal", "goal": "demo"}, {"id": "m", "type": "message", "text": "x"}]))
    assert visitor.texts() == ["x"]
    assert visitor.events == ["triggered", "goal_reached", "completed"]
    assert visitor.state.goals == ["demo"]


def test_answer_to_a_question_not_asked_is_refused() -> None:
    visitor = Visitor(engine_for([QUESTION, {"id": "other", "type": "end"}]))
    with pytest.raises(EngineError) as error:
        visitor.engine.answer(visitor.state, {}, VISIT, "q:99", "SEO")
    assert error.value.code == "not_asked"
    visitor.answer("SEO")
    with pytest.raises(EngineError):
        visitor.engine.answer(visitor.state, {}, VISIT, "q:1", "SEO")


def test_a_dialogue_that_loops_without_asking_stops_with_an_error() -> None:
    engine = engine_for([{"id": "a", "type": "message", "text": "a", "next": "b"},
                         {"id": "b", "type": "message", "text": "b", "next": "a"}])
    with pytest.raises(EngineError, match="without asking"):
        engine.start({}, VISIT)


def test_state_survives_json_round_trip_mid_dialogue() -> None:
    visitor = Visitor(engine_for([QUESTION, {"id": "after", "type": "end", "text": "done"}, {"id": "other", "type": "end"}]))
    from chinwag.engine import State
    visitor.state = State.from_json(visitor.state.to_json())
    visitor.answer("SEO")
    assert visitor.texts()[-1] == "done"

"""Languages: choosing the visitor's language, texts per language, the catalog, and validation of
all three with the file and line of each problem."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml

from chinwag.app import Chinwag
from chinwag.cards import CardContext
from chinwag.default_cards import BUILT_IN
from chinwag.dialogue import Card, parse_dialogue
from chinwag.engine import Engine
from chinwag.languages import localise
from chinwag.languages.catalog import BASE, CATALOG_DIR, SHIPPED, placeholders, shipped
from chinwag.languages.locales import accept_language, negotiate, normalise, preferences
from chinwag.problems import InvalidProject
from chinwag.testing import QUICKSTART, write_project

CARD_TYPES = {card_type.name: card_type for card_type in BUILT_IN}
BUTTONS = [{"label": {"en": "Yes", "es": "Sí"}, "value": "yes"}, {"label": {"en": "No", "es": "No"}, "value": "no"}]
BILINGUAL = {"id": "hola", "name": "Hola", "languages": ["en", "es"], "cards": [
    {"id": "ask", "type": "question", "text": {"en": "Shall we talk?", "es": "¿Hablamos?"}, "buttons": BUTTONS},
    {"id": "email", "type": "capture", "input": "email", "text": {"en": "Your email?", "es": "¿Tu correo?"},
     "placeholder": "you@company.com", "field": "lead.email"},
    {"id": "bye", "type": "end", "text": {"en": "Thanks!", "es": "¡Gracias!"}},
]}


# -- choosing the language ---------------------------------------------------------------------------

@pytest.mark.parametrize(("tag", "written"), [
    ("es", "es"), ("es_mx", "es-MX"), ("EN-gb", "en-GB"), ("es-419", "es-419"), ("zh-hant-tw", "zh-Hant-TW"),
    ("ca-ES-valencia", "ca-ES"), ("xx", None), ("en-XX", None), ("english", None), ("", None), (None, None),
    ("e" * 40, None), (42, None),
])
def test_locale_tags_are_checked_against_the_cldr_and_written_one_way(tag: Any, written: str | None) -> None:
    assert normalise(tag) == written


def test_accept_language_is_read_best_first_leaving_out_what_is_not_a_language() -> None:
    assert accept_language("en;q=0.5, es-ES, fr;q=0, *;q=0.9, klingon, de;q=0.8, es;q=bad") == ["es-ES", "de", "en"]
    assert accept_language(None) == [] and accept_language(",,;;") == []
    assert len(accept_language(",".join(["es"] * 5000 + ["de", "fr", "it"]))) <= 8  # a hostile header is cut short


def test_the_hello_locale_comes_before_accept_language() -> None:
    assert preferences("es-MX", "en-US,es;q=0.9") == ("es-MX", "en-US", "es")
    assert preferences("not a locale", "de-DE,de;q=0.9") == ("de-DE", "de")
    assert preferences(None, None) == ()


@pytest.mark.parametrize(("wanted", "available", "chosen"), [
    (["es-MX"], ("en", "es"), "es"),              # the region's language
    (["es"], ("en", "es-ES"), "es-ES"),           # the language in another region
    (["es-MX"], ("en", "es-MX", "es"), "es-MX"),  # the tag itself first
    (["ca-ES", "es"], ("en", "es"), "es"),        # the visitor's second choice before the default
    (["ja"], ("en", "es"), "en"),                 # nothing served: the default
    ([], ("de", "en"), "de"),
])
def test_negotiation_falls_back_from_region_to_language_to_the_default(
        wanted: list[str], available: tuple[str, ...], chosen: str) -> None:
    assert negotiate(wanted, available, available[0]) == chosen


def test_a_text_falls_back_to_its_language_then_the_default_language() -> None:
    text = {"en": "Hi", "es": "Hola", "es-MX": "Quihubo"}
    assert localise(text, "es-MX", "en") == "Quihubo"
    assert localise(text, "es-AR", "en") == "Hola"
    assert localise(text, "de", "en") == "Hi"
    assert localise("Hi", "es", "en") == "Hi"


# -- the engine speaks the session's language --------------------------------------------------------

def test_the_engine_plays_the_dialogue_and_its_messages_in_the_sessions_language() -> None:
    dialogue, problems = parse_dialogue(BILINGUAL, "hola.yaml")
    assert problems == [] and dialogue is not None
    engine = Engine(dialogue, CARD_TYPES, 0)
    turn = engine.start({}, {}, "es")
    assert turn.state.language == "es"
    question = turn.frames[-1]
    assert question["text"] == "¿Hablamos?"
    assert question["input"]["options"] == [{"id": "yes", "label": "Sí"}, {"id": "no", "label": "No"}]
    assert engine.answer(turn.state, {}, {}, question["id"], "maybe").frames[0]["message"] == "Elige una de las opciones."
    turn = engine.answer(turn.state, {}, {}, question["id"], "yes")
    assert turn.frames[0] == {"type": "answered", "question": question["id"], "text": "Sí"}
    assert turn.state.answers == {"ask": "yes"}  # the stored value does not depend on the language
    email = turn.frames[-1]
    assert email["text"] == "¿Tu correo?" and email["input"]["placeholder"] == "you@company.com"
    refused = engine.answer(turn.state, {}, {}, email["id"], "not-an-email").frames[0]["message"]
    assert refused == "Eso no parece una dirección de correo electrónico. Revísala, por favor."
    assert engine.start({}, {}).frames[-1]["text"] == "Shall we talk?"  # no language: the default


def test_a_button_without_value_stores_its_label_in_the_default_language() -> None:
    dialogue, _ = parse_dialogue({"id": "d", "languages": ["es", "en"], "cards": [
        {"id": "ask", "type": "question", "text": {"en": "Ready?", "es": "¿Listo?"},
         "buttons": [{"label": {"en": "Yes", "es": "Sí"}}]}]}, "d.yaml")
    assert dialogue is not None and dialogue.default_language == "es"
    engine = Engine(dialogue, CARD_TYPES, 0)
    turn = engine.start({}, {}, "en")
    assert turn.frames[-1]["input"]["options"] == [{"id": "Sí", "label": "Yes"}]
    assert engine.answer(turn.state, {}, {}, turn.frames[-1]["id"], "Sí").state.answers == {"ask": "Sí"}


# -- validation ------------------------------------------------------------------------------------

def problems_of(project: Path) -> list[str]:
    """Every problem ``chinwag validate`` would print for the project (none: an empty list)."""
    try:
        Chinwag.from_project(project)
    except InvalidProject as error:
        return [str(problem) for problem in error.problems]
    return []


def test_the_bilingual_quickstart_is_valid() -> None:
    assert problems_of(QUICKSTART) == []


def test_a_text_missing_a_language_is_reported_at_its_line(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", config={"name": "p"}, dialogues={"hola": """\
id: hola
languages: [en, es]
cards:
  - id: ask
    type: question
    text:
      en: Shall we talk?
    buttons:
      - {label: {en: "Yes", es: Sí}, value: "yes"}
      - label: {en: "No"}
        value: "no"
  - id: bye
    type: end
    text: Thanks!
"""})
    file = project / "dialogues" / "hola.yaml"
    assert problems_of(project) == [
        f"{file}:7: dialogue 'hola', card 'ask': 'text' has no es text (the dialogue's languages: en, es)",
        f"{file}:10: dialogue 'hola', card 'ask': button #2's 'label' has no es text (the dialogue's languages: en, es)",
        f"{file}:14: dialogue 'hola', card 'bye': 'text' needs a text for each of the dialogue's languages: "
        "{en: ..., es: ...}",
    ]


@pytest.mark.parametrize(("dialogue", "expected"), [
    ({"languages": ["en", "xx"]}, ":4: dialogue 'd': 'languages' #2: 'xx' is not a locale code (like en, es or pt-BR)"),
    ({"languages": ["en", "es_MX"]}, ":4: dialogue 'd': 'languages' #2: write 'es-MX' instead of 'es_MX'"),
    ({"languages": ["en", "en"]}, ":4: dialogue 'd': 'languages' names 'en' twice"),
    ({"languages": "en"}, ":2: dialogue 'd': 'languages' must be a non-empty list of locale codes"),
    ({"languages": ["en", "es"], "default_language": "de"},
     ":5: dialogue 'd': 'default_language' must be one of 'languages' (en, es)"),
    ({"text": {"en": "Hi", "fr": "Salut"}}, "card 'a': 'text' has 'fr', which is not one of the dialogue's languages (en)"),
    ({"text": {"en": "Hi", "english": "Hi"}}, "card 'a': 'text' has 'english', which is not a locale code"),
    ({"languages": ["en", "es"], "text": {"en": "Hi", "ES": "Hola"}},
     "card 'a': 'text' has 'ES': write 'es', as the dialogue's languages do"),
    ({"languages": ["en", "es"], "text": {"en": "Hi", "es": " "}}, "card 'a': 'text' (es) must be non-empty text"),
    ({"languages": ["en", "pt"], "text": {"en": "Hi", "pt": "Olá"}},
     "dialogue 'd': language 'pt' has no catalog for the widget's labels and messages: add its entries under "
     "languages.catalog.pt in chinwag.yaml, or in catalogs/pt.yaml"),
])
def test_language_problems_are_named(tmp_path: Path, dialogue: dict[str, Any], expected: str) -> None:
    text = dialogue.pop("text", {"en": "Hi", "es": "Hola"} if "es" in dialogue.get("languages", []) else "Hi")
    definition = {"id": "d", **dialogue, "cards": [{"id": "a", "type": "message", "text": text}]}
    project = write_project(tmp_path / "p", config={"name": "p"}, dialogues={"d": definition})
    found = problems_of(project)
    assert any(expected in problem for problem in found), found
    assert all(problem.startswith(str(project / "dialogues" / "d.yaml")) for problem in found)


def test_meeting_texts_need_every_language_too(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, dialogues={"d": {
        "id": "d", "languages": ["en", "de"], "cards": [
            {"id": "book", "type": "meeting", "text": {"en": "Pick a time", "de": "Wählen Sie"},
             "booked_text": {"en": "Booked with {agent} on {time}."}}]}})
    assert any("card 'book': 'booked_text' has no de text" in problem for problem in problems_of(project))


def test_a_project_catalog_lets_a_dialogue_speak_a_language_chinwag_does_not_ship(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", config={"name": "p"}, dialogues={"d": {
        "id": "d", "languages": ["pt-BR"], "cards": [{"id": "a", "type": "message", "text": "Olá"}]}})
    (project / "catalogs").mkdir()
    (project / "catalogs" / "pt-BR.yaml").write_text("send: Enviar\nconversation: Conversa\n")
    assert problems_of(project) == []


# -- the project's catalog ---------------------------------------------------------------------------

def test_the_shipped_catalogs_give_every_key_with_the_same_placeholders() -> None:
    english = shipped().entries(BASE)
    for locale in SHIPPED:
        own = yaml.safe_load((CATALOG_DIR / f"{locale}.yaml").read_text(encoding="utf-8"))
        assert set(own) == set(english), locale
        assert {key: placeholders(text) for key, text in own.items() if key != "meeting_date_format"} == {
            key: placeholders(text) for key, text in english.items() if key != "meeting_date_format"}, locale


def test_a_project_overrides_entries_and_adds_a_language(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", config={"name": "p", "languages": {"catalog": {
        "es": {"send": "Mandar"}, "it": {"send": "Invia"}}}})
    (project / "catalogs").mkdir()
    (project / "catalogs" / "es.yaml").write_text("send: Enviar ya\nday: Jornada\n")
    app = Chinwag.from_project(project)
    from chinwag.languages.state import language_settings

    catalog = language_settings(app).catalog
    assert catalog.entries("es")["send"] == "Mandar"  # chinwag.yaml wins over the file
    assert catalog.entries("es-MX")["day"] == "Jornada"  # the file over what is shipped
    assert catalog.entries("es")["time_zone"] == "Zona horaria"  # the rest as shipped
    assert catalog.entries("it")["send"] == "Invia" and catalog.entries("it")["time_zone"] == "Time zone"  # English otherwise


def test_catalog_problems_are_named_with_their_lines(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", config={"name": "p"})
    (project / "chinwag.yaml").write_text("""\
name: p
languages:
  default: english
  colour: blue
  catalog:
    es:
      sned: Enviar
      typing: "{nombre} está escribiendo"
      meeting_date_format: "EEEE ZZZZZZZZ"
    es_ES: {send: Enviar}
""")
    (project / "catalogs").mkdir()
    (project / "catalogs" / "fr.yaml").write_text("send: Envoyer\nsnd: Envoyer\n")
    (project / "catalogs" / "french.yaml").write_text("send: Envoyer\n")
    config, catalog_fr = project / "chinwag.yaml", project / "catalogs" / "fr.yaml"
    found = problems_of(project)
    for expected in (
        f"{config}:3: languages.default: 'english' is not a locale code (like en, es or pt-BR)",
        f"{config}:4: languages.colour: unknown setting (known: default, catalog)",
        f"{config}:7: languages.catalog.es.sned: unknown key; did you mean 'send'?",
        f"{config}:8: languages.catalog.es.typing: {{nombre}} is not filled in here (this text has: {{name}})",
        f"{config}:9: languages.catalog.es.meeting_date_format: is not a date pattern",
        f"{config}:10: languages.catalog.es_ES: write 'es-ES' instead of 'es_ES'",
        f"{catalog_fr}:2: snd: unknown key; did you mean 'send'?",
        f"{project / 'catalogs' / 'french.yaml'}: file name: 'french' is not a locale code",
    ):
        assert any(problem.startswith(expected) for problem in found), (expected, found)


def test_the_widgets_built_in_labels_are_the_english_catalogs() -> None:
    """What a client older than the catalog, or a server that sends none, shows is what English says."""
    source = (Path(__file__).resolve().parent.parent / "core" / "static" / "widget.js").read_text(encoding="utf-8")
    block = source[source.index("var LABELS = {"):source.index("};", source.index("var LABELS = {"))]
    labels = dict(re.findall(r'^\s+([a-z_]+): "((?:[^"\\]|\\.)*)",?$', block, re.MULTILINE))
    assert len(labels) >= 30
    english = shipped().entries(BASE)
    assert {key: english.get(key) for key in labels} == labels


def test_the_meeting_fallback_is_said_in_the_visitors_language(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, config={"meetings": {"fallback": {"es": "Nadie puede."}}})
    meeting = Chinwag.from_project(project).cards["meeting"]
    card = Card("book", "meeting", None, {"text": "Pick a time"})
    nobody_free = CardContext({}, {}, {}, effect_result={"kind": "offer", "slots": []}, language="es")
    assert meeting.receive(card, nobody_free, None).say == ("Nadie puede.",)
    assert meeting.receive(card, attrs.evolve(nobody_free, language="de"), None).say == (  # no German: the catalog's
        "Leider ist gerade niemand für einen Termin verfügbar. Wir melden uns per E-Mail.",)
    own = Card("book", "meeting", None, {"text": "Pick a time", "fallback": {"en": "Nobody.", "es": "Nadie."}})
    assert meeting.receive(own, nobody_free, None).say == ("Nadie.",)  # the card's own first


def test_a_meeting_fallback_per_language_is_checked(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, config={"meetings": {"fallback": {"en": "No.", "xx": "?"}}})
    assert any("meetings.fallback: 'xx' must be a locale code" in problem for problem in problems_of(project))


def test_a_stored_definition_keeps_the_dialogues_languages() -> None:
    """An old version is rebuilt from its stored definition, for the visitors still in it."""
    from chinwag.publishing import dialogue_definition

    dialogue, _ = parse_dialogue({**BILINGUAL, "default_language": "es"}, "hola.yaml")
    assert dialogue is not None
    stored, problems = parse_dialogue(json.loads(json.dumps(dialogue_definition(dialogue))), "<hola v1>")
    assert problems == [] and stored is not None
    assert (stored.languages, stored.default_language) == (("en", "es"), "es")
    english, _ = parse_dialogue({"id": "d", "cards": [{"id": "a", "type": "message", "text": "Hi"}]}, "d.yaml")
    assert english is not None and "languages" not in dialogue_definition(english)  # as stored before languages

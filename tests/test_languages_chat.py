"""A visitor is spoken to in their language over the real WebSocket: the dialogue's texts, the
server's messages and the widget's catalog (protocol 1.2), chosen by ``hello.locale``, then the
request's ``Accept-Language``, and kept with the session."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerThread, free_port, write_project

BUTTONS = [{"label": {"en": "Yes", "es": "Sí"}, "value": "yes"}, {"label": {"en": "No", "es": "No"}, "value": "no"}]
HOLA = {"id": "hola", "name": "Hola", "priority": 10, "languages": ["en", "es"], "cards": [
    {"id": "ask", "type": "question", "text": {"en": "Shall we talk?", "es": "¿Hablamos?"}, "buttons": BUTTONS},
    {"id": "email", "type": "capture", "input": "email", "text": {"en": "Your email?", "es": "¿Tu correo?"},
     "field": "lead.email"},
    {"id": "bye", "type": "end", "text": {"en": "Thanks!", "es": "¡Gracias!"}},
]}
# Only for German speakers (visit.language), and only in German.
DEUTSCH = {"id": "deutsch", "name": "Deutsch", "priority": 1, "languages": ["de"],
           "targeting": {"audience": {"attribute": "visit.language", "op": "is", "value": "de"}},
           "cards": [{"id": "hallo", "type": "question", "text": "Sollen wir reden?",
                      "buttons": [{"label": "Ja", "value": "yes"}]}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    project = write_project(tmp_path_factory.mktemp("languages"), config={
        "name": "Acme", "response_delay": 0, "limits": {"blocked_email_domains": ["spam.example"]},
        "languages": {"catalog": {"es": {"send": "Mandar"}}}}, dialogues={"hola": HOLA, "deutsch": DEUTSCH})
    with ServerThread(project, demo=False) as running:
        yield running


async def test_a_spanish_visitor_gets_spanish_texts_messages_and_catalog(server: ServerThread) -> None:
    async with ScriptedVisitor(server, locale="es-ES") as visitor:
        welcome = await visitor.connect(minor=2)
        assert welcome["minor"] == 2 and welcome["language"] == "es"
        catalog = welcome["catalog"]
        assert catalog["send"] == "Mandar"  # the project's override
        assert catalog["day"] == "Día" and catalog["answer_empty"] == "Escribe una respuesta."  # as shipped
        question = await visitor.question()
        assert question["text"] == "¿Hablamos?"
        assert question["input"]["options"] == [{"id": "yes", "label": "Sí"}, {"id": "no", "label": "No"}]
        await visitor.answer("yes")
        assert (await visitor.until("answered"))["text"] == "Sí"
        assert (await visitor.question())["text"] == "¿Tu correo?"
        await visitor.answer("not-an-email")
        assert (await visitor.until("invalid"))["message"].startswith("Eso no parece una dirección de correo")
        await visitor.answer("ada@spam.example")
        assert (await visitor.until("invalid"))["message"] == (
            "Usa otra dirección de correo: aquí no se aceptan direcciones de spam.example.")
        await visitor.answer("ada@example.com")
        assert (await visitor.until("message"))["text"] == "¡Gracias!"


async def test_accept_language_decides_when_the_page_names_no_locale(server: ServerThread) -> None:
    headers = {"Accept-Language": "fr-CH, fr;q=0.9, es;q=0.8, en;q=0.7"}  # no French text: Spanish comes next
    async with ScriptedVisitor(server, headers=headers) as visitor:
        welcome = await visitor.connect(minor=2, locale=None)
        assert welcome["language"] == "es" and welcome["catalog"]["send"] == "Mandar"
        assert (await visitor.question())["text"] == "¿Hablamos?"
    async with ScriptedVisitor(server, locale="en-GB", headers=headers) as visitor:  # the page's locale first
        welcome = await visitor.connect(minor=2)
        assert welcome["language"] == "en" and welcome["catalog"]["send"] == "Send"
        assert (await visitor.question())["text"] == "Shall we talk?"
    async with ScriptedVisitor(server, locale="ja-JP") as visitor:  # nothing Japanese: the default language
        welcome = await visitor.connect(minor=2)
        assert welcome["language"] == "en" and (await visitor.question())["text"] == "Shall we talk?"


async def test_a_reconnect_keeps_the_sessions_language(server: ServerThread) -> None:
    async with ScriptedVisitor(server, locale="es-MX") as visitor:
        await visitor.connect(minor=2)
        await visitor.question()
        await visitor.answer("yes")
        await visitor.question()
    # The same visitor on another page, in a browser now set to English: the session goes on in Spanish.
    async with ScriptedVisitor(server, visitor=visitor.visitor, session=visitor.session, locale="en-US") as again:
        welcome = await again.connect(minor=2)
        assert welcome["session"] == visitor.session and welcome["language"] == "es"
        assert welcome["catalog"]["send"] == "Mandar"
        assert [frame.get("text") for frame in welcome["transcript"]] == ["¿Hablamos?", "Sí", "¿Tu correo?"]
        await again.answer("nope")
        assert (await again.until("invalid"))["message"].startswith("Eso no parece")


async def test_an_older_client_gets_the_texts_in_its_language_without_a_catalog(server: ServerThread) -> None:
    async with ScriptedVisitor(server, locale="es") as visitor:
        welcome = await visitor.connect(minor=1)
        assert welcome["minor"] == 1 and "catalog" not in welcome and "language" not in welcome
        assert (await visitor.question())["text"] == "¿Hablamos?"


async def test_visit_language_targets_a_german_dialogue_spoken_in_german(server: ServerThread) -> None:
    async with ScriptedVisitor(server, locale=None, headers={"Accept-Language": "de-AT,de;q=0.9"}) as visitor:
        welcome: dict[str, Any] = await visitor.connect(minor=2, locale=None)
        assert welcome["dialogue"]["id"] == "deutsch"
        assert welcome["language"] == "de" and welcome["catalog"]["send"] == "Senden"
        assert (await visitor.question())["text"] == "Sollen wir reden?"


SPANISH_TIME = (r"(lunes|martes|miércoles|jueves|viernes|sábado|domingo) \d{1,2} de (enero|febrero|marzo|abril|mayo|"
                r"junio|julio|agosto|septiembre|octubre|noviembre|diciembre), \d{2}:\d{2} \(Europe/Madrid\)")


async def test_a_spanish_visitor_books_a_meeting_in_spanish(tmp_path: Path) -> None:
    """The quickstart on its sandbox calendars: the meeting card's texts and times in Spanish."""
    port = free_port()
    folder = write_project(tmp_path / "demo", {"public_url": f"http://127.0.0.1:{port}", "response_delay": 0},
                           copy_from=QUICKSTART)
    with ServerThread(folder, port=port) as server:
        async with ScriptedVisitor(server, locale="es-ES", timezone="Europe/Madrid") as visitor:
            await visitor.connect(minor=2)
            for answer in ("meeting", "Ada", "ada@client.com", "11-50"):
                await visitor.question()
                await visitor.answer(answer)
            question = await visitor.question()
            assert question["text"] == "Elige la hora que mejor te venga."
            await visitor.answer(question["input"]["slots"][0]["id"])
            assert re.fullmatch(SPANISH_TIME, (await visitor.until("answered"))["text"])
            booked = (await visitor.until("message"))["text"]
            assert re.fullmatch(rf"Tienes una reunión con [\w ]+ el {SPANISH_TIME}\. La invitación va de camino a tu "
                                r"bandeja de entrada\.", booked), booked
            assert (await visitor.until("message"))["text"] == "¡Gracias, Ada! Nos pondremos en contacto contigo pronto."

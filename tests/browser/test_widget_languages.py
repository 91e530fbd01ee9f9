"""The widget in the visitor's language, in a real browser: a Spanish browser (locale es-ES) reads
the quickstart's Spanish texts, and the widget's own labels and messages in Spanish."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from chinwag.testing import ServerThread

from browser_kit import ARTIFACTS, PageProblems, Widget


@pytest.fixture
def spanish_page(browser: Any, page_problems: PageProblems) -> Iterator[Any]:
    """A page in a fresh profile of a browser set to Spanish (navigator.language and Accept-Language)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id="Europe/Madrid", locale="es-ES")
    context.set_default_timeout(10_000)
    page = page_problems.watch(context.new_page())
    yield page
    context.close()
    assert page_problems.errors == []


def test_a_spanish_browser_gets_spanish_texts_and_labels(server: ServerThread, spanish_page: Any) -> None:
    page = spanish_page
    page.goto(server.url + "/")
    widget = Widget(page)
    expect(widget.launcher).to_have_attribute("aria-label", "Abrir el chat con Acme Assistant")
    widget.open()
    expect(page.locator("chinwag-widget .cw")).to_have_attribute("lang", "es")
    expect(page.locator("chinwag-widget .close")).to_have_attribute("aria-label", "Cerrar el chat")
    widget.bot_says("Soy el bot de demostración de chinwag")
    widget.bot_says("¿Qué te trae por aquí?")
    widget.choose("Quiero una demo")
    widget.bot_says("¡Genial! ¿Cómo te llamas?")
    expect(widget.send).to_have_text("Enviar")
    widget.type("Ada")
    widget.bot_says("Gracias, Ada. ¿Cuál es tu correo electrónico de trabajo?")

    widget.type("not-an-email")  # refused in the browser, in the widget's Spanish label
    expect(widget.error).to_have_text("Eso no parece una dirección de correo electrónico. Revísala, por favor.")
    widget.type("ada@exa..mple.com")  # refused by the server, in its Spanish message
    expect(widget.error).to_have_text(re.compile("^Eso no parece una dirección de correo"))
    expect(page.locator("chinwag-widget .bubble.visitor")).to_have_count(2)
    widget.type("ada@example.com")
    widget.bot_says("¿Cuántas personas sois en tu equipo?")
    expect(page.locator("chinwag-widget .bubble.bot .sr").first).to_have_text("Acme Assistant dijo: ")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-spanish.png"))


def test_an_english_browser_keeps_english_labels_and_lang(server: ServerThread, page: Any) -> None:
    page.goto(server.url + "/")
    widget = Widget(page)
    widget.open()
    expect(page.locator("chinwag-widget .cw")).to_have_attribute("lang", "en")
    widget.choose("I'd like a demo")
    widget.bot_says("What's your first name?")
    expect(widget.send).to_have_text("Send")

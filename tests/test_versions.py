"""Dialogue versions as the reference product has them: a visitor who engaged with version 1
finishes version 1 after version 2 is published; one who was shown version 1 but never answered
gets version 2 (the republish rule of the targeting issue)."""

from __future__ import annotations

from pathlib import Path

import yaml
from chinwag.testing import ScriptedVisitor, ServerThread, write_project


def dialogue(version: int, question: str) -> dict:
    return {"id": "ask", "name": "Ask", "version": version, "cards": [
        {"id": "name", "type": "capture", "text": question, "field": "lead.firstName"},
        {"id": "why", "type": "capture", "text": f"Why (v{version})?", "field": "lead.interest"},
        {"id": "bye", "type": "end", "text": f"Bye from v{version}"}]}


def publish(folder: Path, version: int, question: str) -> None:
    (folder / "dialogues" / "ask.yaml").write_text(yaml.safe_dump(dialogue(version, question)))


async def test_engaged_visitors_finish_their_version_and_unanswered_ones_get_the_new_one(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "p", {"name": "v", "response_delay": 0,
                                            "attributes": [{"name": "lead.interest"}]},
                           {"ask": dialogue(1, "Your name (v1)?")})
    with ServerThread(folder, demo=False) as server:
        async with ScriptedVisitor(server) as engaged:
            await engaged.run_through("Ada", until_event="engaged")
        async with ScriptedVisitor(server) as shown:
            await shown.connect()
            assert (await shown.question())["text"] == "Your name (v1)?"  # shown, never answered
    publish(folder, 2, "Your name (v2)?")
    with ServerThread(folder, demo=False) as server:
        async with ScriptedVisitor(server, visitor=engaged.visitor, session=engaged.session) as back:
            welcome = await back.connect()
            assert welcome["session"] == engaged.session  # the engaged one goes on with version 1
            await back.answer("pricing")
            assert (await back.until("message"))["text"] == "Bye from v1"
        async with ScriptedVisitor(server, visitor=shown.visitor, session=shown.session) as again:
            welcome = await again.connect()
            question = await again.question()
            assert welcome["session"] != shown.session and question["text"] == "Your name (v2)?"

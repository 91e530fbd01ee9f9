"""The quickstart's meeting path, and stored calendar tokens refused without their key."""

from __future__ import annotations

from pathlib import Path

import pytest
from chinwag.app import Chinwag
from chinwag.credentials import CredentialsKeyMissing
from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerThread, write_project
from meetings_support import agent, connect_agent, free_port, google, project, secret_key  # noqa: F401


async def test_the_quickstart_meeting_path_falls_back_while_no_agent_is_connected(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "demo", copy_from=QUICKSTART)
    with ServerThread(folder) as server:
        async with ScriptedVisitor(server, timezone="Asia/Tokyo") as visitor:
            await visitor.connect()
            for answer in ("meeting", "Ada", "ada@client.com", "11-50"):
                await visitor.question()
                await visitor.answer(answer)
            told = await visitor.until("message")
            assert told["text"] == "Sorry, no one can take a meeting right now. We'll email you to find a time."
            assert (await visitor.until("message"))["text"] == "Thanks Ada, we'll be in touch soon!"


async def test_stored_tokens_without_a_key_stop_the_server(tmp_path: Path, google, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent("ada@example.com")], google=google)
    with ServerThread(folder, port=port, demo=False):
        await connect_agent(None, folder, "ada@example.com")
    monkeypatch.delenv("CHINWAG_SECRET_KEY")
    app = Chinwag.from_project(folder)
    with pytest.raises(CredentialsKeyMissing, match="CHINWAG_SECRET_KEY is not set"):
        await app.start()
    await app.stop()

"""An agent's schedule edited in the console: checked field by field, saved for that agent only,
and followed by the times the chat offers visitors; cleared, chinwag.yaml's applies again."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from chinwag.testing import ServerThread
from chinwag_admin_console.users import create_user
from console_support import PASSWORD, Browser, console_project, times_offered_in_the_chat

AGENTS = ("ada@example.com", "grace@example.com", "linus@example.com")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(console_project(tmp_path_factory.mktemp("schedule") / "p"), demo=False) as running:
        for email, role in (("root@example.com", "admin"), ("mia@example.com", "marketer"),
                            *((agent, "agent") for agent in AGENTS)):
            running.call(lambda app, email=email, role=role: create_user(app, email, role, PASSWORD))
        yield running


def signed_in(server: ServerThread, email: str) -> Browser:
    browser = Browser(server.url)
    assert browser.login(email).status_code == 303
    return browser


WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def schedule_form(hours: str, **fields: str) -> dict[str, str]:
    form = {f"hours_{day}": hours for day in WEEK}
    form.update({"time_zone": "UTC", "duration": "60", "buffer_after": "0", "minimum_notice": "0",
                 "horizon_days": "3", "action": "save"})
    form.update(fields)
    return form


def test_an_agent_edits_their_schedule_and_visitors_are_offered_its_times(server: ServerThread) -> None:
    ada, admin = signed_in(server, "ada@example.com"), signed_in(server, "root@example.com")
    page = ada.get("/-/console/agents/ada%40example.com").text
    assert 'value="09:00-12:00, 13:00-17:00"' in page and "As chinwag.yaml sets it." in page

    # Wrong values: each named at its field, nothing saved.
    refused = ada.post("/-/console/agents/ada%40example.com/schedule", schedule_form(
        "9 to 5", time_zone="Mars/Olympus_Mons", duration="an hour", buffer_after="999"))
    assert refused.status_code == 400
    for message in ("The schedule was not saved", "unknown time zone", "&#39;9 to 5&#39; is not a block like 09:00-12:00",
                    "must be a whole number of minutes", "must be a whole number from 0 to 240"):
        assert message in refused.text, message
    assert 'value="9 to 5"' in refused.text  # what was typed stays in the form to correct
    assert "As chinwag.yaml sets it." in ada.get("/-/console/agents/ada%40example.com").text
    assert ada.post("/-/console/agents/ada%40example.com/schedule", schedule_form(
        "10:00-11:00", horizon_days="x" * 5000)).status_code == 400

    # Only the agent themself or an admin; every form needs its CSRF token.
    assert ada.post("/-/console/agents/grace%40example.com/schedule", schedule_form("10:00-11:00")).status_code == 403
    mia = signed_in(server, "mia@example.com")
    assert mia.post("/-/console/agents/ada%40example.com/schedule", schedule_form("10:00-11:00")).status_code == 403
    assert ada.http.post("/-/console/agents/ada%40example.com/schedule",
                         data=schedule_form("10:00-11:00", csrf="forged")).status_code == 403

    try:
        # Every agent of the queue: one hour a day at 10:00 UTC. Ada saves her own, the admin the others'.
        saved = ada.post("/-/console/agents/ada%40example.com/schedule", schedule_form("10:00-11:00"))
        assert saved.status_code == 303
        page = ada.get(saved.headers["location"]).text
        assert "The schedule was saved" in page and "by ada@example.com" in page and 'value="10:00-11:00"' in page
        for email in AGENTS:
            if email != "ada@example.com":
                assert admin.post(f"/-/console/agents/{email}/schedule", schedule_form("10:00-11:00")).status_code == 303
        assert "agent.schedule_saved" in admin.get("/-/console/audit").text
        offered = server.call(lambda app: times_offered_in_the_chat(server, "schedule@client.example"))
        assert offered, "no time offered"
        for slot in offered:
            start, end = dt.datetime.fromisoformat(slot["start"]), dt.datetime.fromisoformat(slot["end"])
            assert (start.astimezone(dt.timezone.utc).time(), end - start) == (dt.time(10), dt.timedelta(hours=1)), slot
    finally:
        for email in AGENTS:
            cleared = admin.post(f"/-/console/agents/{email}/schedule", {"action": "clear"})
            assert cleared.status_code == 303
    page = ada.get("/-/console/agents/ada%40example.com").text
    assert "As chinwag.yaml sets it." in page and 'value="09:00-12:00, 13:00-17:00"' in page
    offered = server.call(lambda app: times_offered_in_the_chat(server, "schedule-again@client.example"))
    assert any(dt.datetime.fromisoformat(s["end"]) - dt.datetime.fromisoformat(s["start"]) == dt.timedelta(minutes=30)
               for s in offered)

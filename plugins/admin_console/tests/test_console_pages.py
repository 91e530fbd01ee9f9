"""The overview, meetings and agents pages over real HTTP, with data made by real chats on a
running server (the quickstart's sandbox calendars), and each role's refusals."""

from __future__ import annotations

import csv
import datetime as dt
import io
import socket
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from chinwag.testing import ServerThread
from chinwag_admin_console.users import create_user
from console_support import PASSWORD, Browser, book_through_the_chat, browse_through_the_chat, console_project

def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


AGENTS = ("ada@example.com", "grace@example.com", "linus@example.com")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    folder = console_project(tmp_path_factory.mktemp("pages") / "p")
    config = yaml.safe_load((folder / "chinwag.yaml").read_text())
    # A webhook CRM whose endpoint refuses connections, with one attempt per item: its lead dies.
    config["plugins"]["webhook"] = {"url": f"http://127.0.0.1:{closed_port()}/hook", "secret": "s" * 32,
                                    "event_types": ["lead_captured"], "timeout": 2}
    config["outbox"] = {"max_attempts": 1, "base_delay": 0.01, "max_delay": 0.05}
    (folder / "chinwag.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with ServerThread(folder, demo=False) as running:
        for email, role in (("root@example.com", "admin"), ("mia@example.com", "marketer"),
                            *((agent, "agent") for agent in AGENTS)):
            running.call(lambda app, email=email, role=role: create_user(app, email, role, PASSWORD))
        confirmation = running.call(lambda app: book_through_the_chat(running, "visitor@client.example"))
        assert confirmation.startswith("You're booked with "), confirmation
        running.call(lambda app: browse_through_the_chat(running))
        yield running


def signed_in(server: ServerThread, email: str) -> Browser:
    browser = Browser(server.url)
    assert browser.login(email).status_code == 303
    return browser


@pytest.fixture(scope="module")
def admin(server: ServerThread) -> Browser:
    return signed_in(server, "root@example.com")


def booked_meeting(admin: Browser) -> tuple[str, str]:
    """(id, agent email) of the meeting the chat booked."""
    page = admin.get("/-/console/meetings").text
    meeting_id = page.split('href="/-/console/meetings/')[1].split('"')[0]
    detail = admin.get(f"/-/console/meetings/{meeting_id}").text
    agent = next(email for email in AGENTS if f"({email})" in detail)
    return meeting_id, agent


def test_the_overview_counts_the_chats_and_exports_them(server: ServerThread) -> None:
    mia = signed_in(server, "mia@example.com")
    assert mia.get("/-/console/").headers["location"] == "/-/console/overview"  # a marketer starts here
    page = mia.get("/-/console/overview")
    assert page.status_code == 200
    figures = dict(zip(
        [label.split("</span>")[0] for label in page.text.split('class="label">')[1:]],
        [figure.split("</span>")[0] for figure in page.text.split('class="figure">')[1:]]))
    assert figures["Triggered"] == "2" and figures["Engaged"] == "2" and figures["Leads"] == "1"
    assert figures["Meetings"] == "1" and figures["Engagement rate"] == "100.0%"
    assert "Welcome tour" in page.text  # the top dialogue, by name
    chart = mia.get("/-/console/overview/chart.svg?step=week")
    assert chart.headers["content-type"] == "image/svg+xml" and b"<svg" in chart.content
    assert "<script" not in chart.text and "Meetings" in chart.text
    assert chart.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    rows = list(csv.reader(io.StringIO(mia.get("/-/console/overview.csv").text)))
    assert rows[0][:4] == ["since", "until", "triggered", "engaged"] and len(rows) == 31  # 30 days by default
    assert sum(int(row[2]) for row in rows[1:]) == 2
    by_dialogue = mia.get("/-/console/overview.csv?table=dialogues")
    assert by_dialogue.headers["content-disposition"].startswith('attachment; filename="chinwag-dialogues-')
    assert by_dialogue.text.splitlines()[1].startswith("welcome,2,2,")
    bad = mia.get("/-/console/overview?since=2026-02-01&until=2026-01-01")
    assert bad.status_code == 400 and "must not come after" in bad.text
    assert mia.get("/-/console/overview?since=yesterday").status_code == 400


def test_an_agent_sees_only_their_meetings_and_no_reports(server: ServerThread, admin: Browser) -> None:
    meeting_id, agent = booked_meeting(admin)
    owner = signed_in(server, agent)
    assert owner.get("/-/console/").headers["location"] == "/-/console/agents/" + agent.replace("@", "%40")
    assert meeting_id in owner.get("/-/console/meetings").text
    assert owner.get(f"/-/console/meetings/{meeting_id}").status_code == 200
    other = signed_in(server, next(email for email in AGENTS if email != agent))
    assert meeting_id not in other.get("/-/console/meetings?agent=" + agent).text
    assert other.get(f"/-/console/meetings/{meeting_id}").status_code == 404
    assert other.post(f"/-/console/meetings/{meeting_id}/cancel", {}).status_code == 404
    for path in ("/-/console/overview", "/-/console/overview.csv", "/-/console/users", "/-/console/audit"):
        assert other.get(path).status_code == 403, path
    assert signed_in(server, "mia@example.com").get("/-/console/meetings").status_code == 403


def test_routing_order_is_the_admins_and_agent_settings_are_each_agents_own(server: ServerThread, admin: Browser) -> None:
    queue = admin.get("/-/console/agents").text
    assert [email for email in AGENTS if email in queue] == list(AGENTS)
    assert queue.index("ada@example.com") < queue.index("grace@example.com") < queue.index("linus@example.com")
    moved = admin.post("/-/console/agents/move", {"email": "linus@example.com", "direction": "up"})
    assert moved.status_code == 303
    queue = admin.get("/-/console/agents?done=moved").text
    assert "The queue order was saved." in queue
    assert queue.index("linus@example.com") < queue.index("grace@example.com")
    assert "queue.reordered" in admin.get("/-/console/audit").text
    ada = signed_in(server, "ada@example.com")
    assert ada.get("/-/console/agents").headers["location"] == "/-/console/agents/ada%40example.com"
    own = ada.get("/-/console/agents/ada%40example.com")
    assert own.status_code == 200 and "09:00-12:00, 13:00-17:00" in own.text and "Buffer after" in own.text
    assert ada.get("/-/console/agents/grace%40example.com").status_code == 403
    token = ada.csrf()
    assert ada.http.post("/-/console/agents/move", data={"csrf": token, "email": "ada@example.com",
                                                          "direction": "top"}).status_code == 403
    assert ada.http.post("/-/console/agents/grace%40example.com/connect", data={"csrf": token}).status_code == 403
    mia = signed_in(server, "mia@example.com")
    assert mia.get("/-/console/agents/ada%40example.com").status_code == 403
    assert mia.get("/-/console/agents").status_code == 403


def test_connect_sends_the_agent_to_their_providers_consent_with_their_address_as_hint(server: ServerThread) -> None:
    ada = signed_in(server, "ada@example.com")
    page = ada.get("/-/console/agents/ada%40example.com")
    assert "Reconnect Google calendar" in page.text  # the demo's sandbox connected her at startup
    started = ada.post("/-/console/agents/ada%40example.com/connect", {})
    assert started.status_code == 303
    consent = urlsplit(started.headers["location"])
    query = parse_qs(consent.query)
    assert query["login_hint"] == ["ada@example.com"] and query["state"][0]
    assert consent.path.startswith("/-/sandbox/google")
    assert f"form-action 'self' {server.url}" in page.headers["content-security-policy"]


def test_a_meeting_is_moved_then_cancelled_from_its_page_and_both_are_audited(server: ServerThread, admin: Browser) -> None:
    meeting_id, agent = booked_meeting(admin)
    page = admin.get(f"/-/console/meetings/{meeting_id}").text
    current = page.split('name="start" type="datetime-local" required value="')[1].split('"')[0]
    later = (dt.datetime.fromisoformat(current) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    moved = admin.post(f"/-/console/meetings/{meeting_id}/reschedule", {"start": later})
    if moved.status_code == 303:
        assert "The meeting was moved." in admin.get(moved.headers["location"]).text
    else:  # the agent's own calendar may be busy an hour later; the refusal says so and nothing moved
        assert moved.status_code == 409 and "already" in moved.text
    cancelled = admin.post(f"/-/console/meetings/{meeting_id}/cancel", {})
    assert cancelled.status_code == 303
    shown = admin.get(cancelled.headers["location"]).text
    assert "The meeting was cancelled." in shown and ">cancelled</span>" in shown
    assert "Cancel this meeting" not in shown
    assert meeting_id not in admin.get("/-/console/meetings").text  # upcoming booked ones by default...
    assert meeting_id in admin.get("/-/console/meetings?status=cancelled&when=all").text  # ...but still listed
    audit = admin.get("/-/console/audit").text
    assert "meeting.cancelled" in audit and meeting_id in audit


def test_integrations_show_plugins_crm_syncs_and_dead_items_an_admin_retries(server: ServerThread, admin: Browser) -> None:
    deadline = time.monotonic() + 20
    while "Retry 1 dead" not in (page := admin.get("/-/console/integrations")).text:
        assert time.monotonic() < deadline, page.text
        time.sleep(0.2)
    text = page.text
    assert "chinwag-admin-console" in text and "chinwag-marketo" in text  # installed plugins and their status
    crm = text.split('id="crm"')[1].split('id="outbox"')[0]
    assert "marketo" in crm and "webhook" in crm  # Marketo's own word (its hook), the webhook's from core's record
    assert "Nothing has been pulled yet." in crm
    items = text.split("<h3>Items: dead")[1]
    assert "<td>webhook</td><td>lead_captured</td>" in items
    assert "<td>webhook unreachable: ConnectError</td>" in items  # the reason it died
    retried = admin.post("/-/console/integrations/outbox", {"action": "retry-dead", "consumer": "webhook"})
    assert retried.status_code == 303
    assert "1 dead item(s) of webhook queued again." in admin.get(retried.headers["location"]).text
    assert "outbox.retry-dead" in admin.get("/-/console/audit").text
    for user in ("mia@example.com", "ada@example.com"):
        refused = signed_in(server, user)
        assert refused.get("/-/console/integrations").status_code == 403
        assert refused.post("/-/console/integrations/outbox", {"action": "retry-dead"}).status_code == 403


def test_a_marketer_publishes_and_unpublishes_and_an_agent_cannot(server: ServerThread, admin: Browser) -> None:
    mia = signed_in(server, "mia@example.com")
    page = mia.get("/-/console/dialogues/welcome").text
    assert ">published v1</span>" in page and 'value="unpublish"' in page
    gone = mia.post("/-/console/dialogues/welcome/publication", {"action": "unpublish"})
    assert gone.status_code == 303
    assert "Unpublished: no new visitor gets it" in mia.get(gone.headers["location"]).text
    assert ">unpublished</span>" in mia.get("/-/console/dialogues").text
    assert "welcome" not in server.app.dialogues  # this process serves it no more
    again = mia.post("/-/console/dialogues/welcome/publication", {"action": "unpublish"})
    assert again.status_code == 409 and "is not published" in again.text
    back = mia.post("/-/console/dialogues/welcome/publication", {"action": "publish", "version": "1"})
    assert back.status_code == 303 and "welcome" in server.app.dialogues
    audit = admin.get("/-/console/audit").text
    assert "dialogue.unpublished" in audit and "dialogue.published" in audit and "mia@example.com" in audit
    ada = signed_in(server, "ada@example.com")
    refused = ada.post("/-/console/dialogues/welcome/publication", {"action": "unpublish"})
    assert refused.status_code == 403 and "welcome" in server.app.dialogues

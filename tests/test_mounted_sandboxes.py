"""The demo's mounted sandboxes: served on any port, their control routes behind the admin token,
their vendor API closed to outsiders, and never exposed beyond loopback by accident."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerProcess, free_port, write_project

SANDBOXES = ("google", "outlook", "marketo")


async def book_a_meeting(server: ServerProcess, email: str) -> str:
    """Chat through the quickstart's meeting path; the text after picking the first time offered."""
    async with ScriptedVisitor(server) as visitor:
        await visitor.connect()
        for answer in ("meeting", "Ada", email, "11-50"):
            await visitor.question()
            await visitor.answer(answer)
        question = await visitor.question()
        assert question["input"]["kind"] == "slots", question  # times are offered, not the fallback
        await visitor.answer(question["input"]["slots"][0]["id"])
        return str((await visitor.until("message"))["text"])


async def test_the_demo_books_on_another_port_and_sandbox_controls_need_the_admin_token(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(24)
    # The quickstart as shipped (public_url names port 8000), served on another port.
    folder = write_project(tmp_path / "demo", {"response_delay": 0, "admin_token": {"$env": "TEST_ADMIN_TOKEN"}},
                           copy_from=QUICKSTART)
    with ServerProcess(folder, env={"TEST_ADMIN_TOKEN": token}, args=("--demo",)) as server:
        assert server.port != 8000
        admin = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            # An outsider cannot inject faults that would break every booking...
            for name in SANDBOXES:
                injected = client.post(f"/-/sandbox/{name}/_sandbox/faults", json={"status": 503, "times": 1000})
                assert injected.status_code == 401, (name, injected.text)
                wrong = client.post(f"/-/sandbox/{name}/_sandbox/faults", json={"status": 503, "times": 1000},
                                    headers={"Authorization": "Bearer not-the-token"})
                assert wrong.status_code == 401
            busy = client.post("/-/sandbox/google/_sandbox/busy", json={
                "calendar": "ada@example.com", "start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"})
            assert busy.status_code == 401
            # ...so the demo books as usual, on the calendars this process serves itself.
            booked = await book_a_meeting(server, "visitor@client.example")
            assert booked.startswith("You're booked with ")
            # The booked attendee is visible to the admin only.
            for name in SANDBOXES:
                looked = client.get(f"/-/sandbox/{name}/_sandbox")
                assert looked.status_code == 401 and "client.example" not in looked.text
                assert client.get(f"/-/sandbox/{name}/_sandbox", headers=admin).status_code == 200
            calendars = [client.get(f"/-/sandbox/{name}/_sandbox", headers=admin).json() for name in ("google", "outlook")]
            assert any("visitor@client.example" in str(state["events"]) for state in calendars)
            assert all(state["faults"] == [] for state in calendars)
            # The vendor API authenticates as the vendor's: a code anyone can get from the consent
            # page is worth nothing without this process's own client secret.
            consent = client.post("/-/sandbox/google/o/oauth2/v2/auth", data={
                "email": "ada@example.com", "decision": "allow", "redirect_uri": "http://attacker.example/cb"})
            code = parse_qs(urlparse(consent.headers["location"]).query)["code"][0]
            stolen = client.post("/-/sandbox/google/token", data={
                "grant_type": "authorization_code", "code": code, "redirect_uri": "http://attacker.example/cb",
                "client_id": "sandbox-client", "client_secret": "sandbox-secret"})
            assert stolen.status_code == 401 and "access_token" not in stolen.text


def test_sandbox_controls_are_closed_when_no_admin_token_is_set(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "demo", {"response_delay": 0, "admin_token": None}, copy_from=QUICKSTART)
    with ServerProcess(folder) as server:
        for name in SANDBOXES:
            answer = httpx.post(f"{server.url}/-/sandbox/{name}/_sandbox/revoke", json={"user": "ada@example.com"})
            assert answer.status_code == 403 and "admin_token" in answer.json()["error"]
        # The Marketo demo's entry point is not a control route: it stays open.
        assert httpx.get(f"{server.url}/-/sandbox/marketo/known-visitor").status_code == 303


def serve(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``chinwag serve`` that is expected to exit by itself."""
    command = [str(Path(sys.executable).with_name("chinwag")), "serve", str(folder), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_sandboxes_are_not_served_beyond_loopback_unless_the_project_says_demo(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "demo", {"response_delay": 0}, copy_from=QUICKSTART)
    refused = serve(folder, "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 1
    assert "refusing to listen on 0.0.0.0 with sandbox: true (google_calendar, marketo, outlook)" in refused.stderr
    assert "demo: true" in refused.stderr and "chinwag.yaml" in refused.stderr
    config = (folder / "chinwag.yaml").read_text()
    (folder / "chinwag.yaml").write_text(config + "demo: true\n")
    with ServerProcess(folder, args=("--host", "0.0.0.0")) as server:  # a public demo, on purpose
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    (folder / "chinwag.yaml").write_text(config + "demo: yes please\n")
    wrong = serve(folder, "--host", "0.0.0.0", "--port", str(free_port()))
    assert wrong.returncode == 1 and "demo: must be true or false" in wrong.stderr

"""Shared by the CalDAV tests: a real Radicale CalDAV server on a free loopback port, with two agents' accounts."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import caldav
import pytest
from chinwag.credentials import generate_key
from chinwag.testing import free_port

PASSWORDS = {"ada@example.com": "ada-app-password-1", "bob@example.com": "bob-app-password-2"}


@attrs.frozen
class Radicale:
    """A running Radicale: its root URL, and a client per account for setting up and checking."""

    url: str
    process: subprocess.Popen

    def client(self, username: str, password: str | None = None) -> caldav.DAVClient:
        return caldav.DAVClient(url=self.url, username=username, password=password or PASSWORDS[username])

    def make_calendar(self, username: str, name: str = "calls") -> caldav.Calendar:
        """A new calendar in the account: what the agent has before connecting."""
        return self.client(username).principal().make_calendar(name=name, cal_id=name)


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    """Radicale with htpasswd accounts for ``PASSWORDS``, storing in a temporary folder."""
    users = tmp_path / "radicale-users"
    users.write_text("".join(f"{user}:{password}\n" for user, password in PASSWORDS.items()))
    port = free_port()
    log = (tmp_path / "radicale.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "radicale", "--storage-filesystem-folder", str(tmp_path / "store"),
                                "--server-hosts", f"127.0.0.1:{port}", "--auth-type", "htpasswd",
                                "--auth-htpasswd-filename", str(users), "--auth-htpasswd-encryption", "plain"],
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, (tmp_path / "radicale.log").read_text()
            assert time.monotonic() < deadline, "Radicale did not start in 60 s"
            time.sleep(0.1)
    try:
        yield Radicale(f"http://127.0.0.1:{port}/", process)
    finally:
        process.terminate()
        process.wait(15)
        log.close()


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key chinwag encrypts credentials with, as a deployment sets it."""
    monkeypatch.setenv("CHINWAG_SECRET_KEY", generate_key())

"""``make run``: the demo prints the console's URL and a sign-in, and its pages have data."""

from __future__ import annotations

import re
import time
from pathlib import Path

from chinwag.testing import QUICKSTART, ServerProcess, write_project
from console_support import Browser


def test_the_demo_prints_a_sign_in_that_works_and_plays_chats_for_the_pages(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "demo", {"response_delay": 0}, copy_from=QUICKSTART)
    with ServerProcess(folder, args=("--demo",)) as server:
        deadline = time.monotonic() + 20
        while not (found := re.search(r"Admin console: (\S+)/-/console/ +sign in as (.+) with the password (\S+)",
                                      server.log())):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        url, who, password = found.groups()
        assert url == server.url
        assert "admin@example.com (admin)" in who and "ada@example.com (agent)" in who
        admin = Browser(server.url)
        assert admin.login("admin@example.com", password).status_code == 303
        while 'class="figure">8</span><span class="label">Triggered' not in (page := admin.get("/-/console/overview").text):
            assert time.monotonic() < deadline + 30, page
            time.sleep(0.3)
        assert "Leads" in page
        ada = Browser(server.url)
        assert ada.login("ada@example.com", password).headers["location"] == "/-/console/"

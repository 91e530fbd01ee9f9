"""What the console's tests share: a project with users, and a browser-like HTTP client."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from chinwag.testing import QUICKSTART, write_project

PASSWORD = "correct horse battery staple"
ADMIN_TOKEN = "a-test-admin-token-0123456789"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def console_project(path: Path, **config: Any) -> Path:
    """The quickstart (sandbox calendars and CRM) with an admin token and ``config`` on top."""
    return write_project(path, copy_from=QUICKSTART, config={"admin_token": ADMIN_TOKEN, "response_delay": 0, **config})


def csrf_of(html: str) -> str:
    """The first CSRF token in a page's forms."""
    match = CSRF_FIELD.search(html)
    assert match, f"no csrf field in the page:\n{html[:2000]}"
    return match.group(1)


class Browser:
    """An HTTP client that keeps cookies and sends forms as a browser does."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, follow_redirects=False, timeout=30)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any], csrf: str | None = None) -> httpx.Response:
        """POST a form with the session's CSRF token (read from the account page unless given)."""
        return self.http.post(path, data={"csrf": csrf or self.csrf(), **data})

    def csrf(self) -> str:
        """The session's CSRF token, as every page of it carries."""
        return csrf_of(self.get("/-/console/account").text)

    def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        """Sign in through the form; the answer to the POST."""
        token = csrf_of(self.get("/-/console/login").text)
        return self.http.post("/-/console/login", data={"csrf": token, "email": email, "password": password})

    def close(self) -> None:
        self.http.close()


async def book_through_the_chat(server: Any, email: str, name: str = "Ada") -> str:
    """A visitor on the quickstart's welcome dialogue asks for a meeting and books the first time
    offered; the confirmation the chat gives."""
    from chinwag.testing import ScriptedVisitor

    async with ScriptedVisitor(server) as visitor:
        question = await _ask_for_a_meeting(visitor, email, name)
        await visitor.answer(question["input"]["slots"][0]["id"])
        return (await visitor.until("message"))["text"]


async def times_offered_in_the_chat(server: Any, email: str, name: str = "Ada") -> list[dict[str, Any]]:
    """The meeting times a visitor on the quickstart's welcome dialogue is offered (``start``, ``end``)."""
    from chinwag.testing import ScriptedVisitor

    async with ScriptedVisitor(server) as visitor:
        return list((await _ask_for_a_meeting(visitor, email, name))["input"]["slots"])


async def _ask_for_a_meeting(visitor: Any, email: str, name: str) -> dict[str, Any]:
    await visitor.connect()
    for answer in ("meeting", name, email, "11-50"):
        await visitor.question()
        await visitor.answer(answer)
    return await visitor.question()


async def browse_through_the_chat(server: Any) -> None:
    """A visitor who is only browsing: triggered and engaged, no lead."""
    from chinwag.testing import ScriptedVisitor

    async with ScriptedVisitor(server) as visitor:
        await visitor.connect()
        await visitor.question()
        await visitor.answer("browsing")
        await visitor.until("message")

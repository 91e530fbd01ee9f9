"""Users, sign-in, sessions, CSRF, roles, the sign-in limit, the audit log and API tokens, over
real HTTP against a running server (one per module) with the console installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from chinwag.cli import cli
from chinwag.testing import ServerThread
from chinwag_admin_console.users import create_user
from click.testing import CliRunner
from console_support import ADMIN_TOKEN, PASSWORD, Browser, console_project, csrf_of


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = console_project(tmp_path_factory.mktemp("console") / "p")
    result = CliRunner().invoke(cli, ["users", "add", "--role", "admin", "--project", str(folder), "--password-stdin",
                                      "root@example.com"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "root@example.com can now sign in as admin" in result.output
    return folder


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[ServerThread]:
    with ServerThread(project, demo=False) as running:
        running.call(lambda app: create_user(app, "mia@example.com", "marketer", PASSWORD, "Mia"))
        yield running


@pytest.fixture
def browser(server: ServerThread) -> Iterator[Browser]:
    opened = Browser(server.url)
    yield opened
    opened.close()


def signed_in(server: ServerThread, email: str) -> Browser:
    browser = Browser(server.url)
    assert browser.login(email).status_code == 303
    return browser


def test_the_first_admin_signs_in_and_gets_a_safe_session_cookie(browser: Browser) -> None:
    answer = browser.login("ROOT@example.com")
    assert answer.status_code == 303 and answer.headers["location"] == "/-/console/"
    cookie = next(value for name, value in answer.headers.multi_items() if name == "set-cookie"
                  and value.startswith("chinwag_console="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/-/console" in cookie
    assert "Secure" not in cookie  # plain http on loopback; over https it is set (see the next test)
    page = browser.get("/-/console/users")
    assert page.status_code == 200 and "root@example.com" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_the_cookie_is_secure_when_served_over_https(server: ServerThread) -> None:
    transport = httpx.ASGITransport(app=server.asgi)

    async def sign_in() -> str:
        async with httpx.AsyncClient(transport=transport, base_url="https://console.example") as client:
            form = await client.get("/-/console/login")
            answer = await client.post("/-/console/login", data={"csrf": csrf_of(form.text), "email": "root@example.com",
                                                                 "password": PASSWORD})
            return next(v for k, v in answer.headers.multi_items() if k == "set-cookie" and v.startswith("chinwag_console="))

    assert "Secure" in server.call(lambda app: sign_in())


def test_logged_out_pages_redirect_to_sign_in_and_forms_are_refused(browser: Browser) -> None:
    answer = browser.get("/-/console/users?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/-/console/login?next=%2F-%2Fconsole%2Fusers%3Fx%3D1"
    refused = browser.http.post("/-/console/users", data={"csrf": "x", "action": "invite", "email": "eve@example.com",
                                                          "role": "admin"})
    assert refused.status_code == 401
    assert browser.get("/-/console/").headers["location"] == "/-/console/login"


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(browser: Browser) -> None:
    token = csrf_of(browser.get("/-/console/login").text)
    answer = browser.http.post("/-/console/login", data={"csrf": token, "email": "root@example.com", "password": PASSWORD,
                                                         "next": "/-/console/audit"})
    assert answer.headers["location"] == "/-/console/audit"
    for target in ("https://evil.example/", "//evil.example/-/console/", "/elsewhere"):
        other = Browser(browser.url)
        token = csrf_of(other.get("/-/console/login").text)
        answer = other.http.post("/-/console/login", data={"csrf": token, "email": "root@example.com",
                                                           "password": PASSWORD, "next": target})
        assert answer.headers["location"] == "/-/console/", target


def test_a_form_without_the_sessions_csrf_token_changes_nothing(server: ServerThread) -> None:
    admin = signed_in(server, "root@example.com")
    for token in ("", "forged"):
        answer = admin.http.post("/-/console/users", data={"csrf": token, "action": "invite",
                                                           "email": "eve@example.com", "role": "admin"})
        assert answer.status_code == 403 and "not sent from your current session" in answer.text
    assert "eve@example.com" not in admin.get("/-/console/users").text
    login_form = Browser(server.url)
    login_form.get("/-/console/login")
    answer = login_form.http.post("/-/console/login", data={"csrf": "forged", "email": "root@example.com",
                                                            "password": PASSWORD})
    assert answer.status_code == 403 and "chinwag_console=" not in answer.headers.get("set-cookie", "")


def test_wrong_passwords_are_rate_limited_per_email_even_with_the_right_one_after(server: ServerThread) -> None:
    server.call(lambda app: create_user(app, "guessed@example.com", "marketer", PASSWORD))
    browser = Browser(server.url)
    for _ in range(5):
        assert browser.login("guessed@example.com", "wrong password!!").status_code == 401
    answer = browser.login("guessed@example.com")
    assert answer.status_code == 429 and "Too many failed sign-ins. Try again in 15 minute(s)." in answer.text
    assert signed_in(server, "mia@example.com").get("/-/console/account").status_code == 200  # others unaffected


def test_an_admin_invites_an_agent_who_sets_a_password_once_and_sees_only_their_part(server: ServerThread) -> None:
    admin = signed_in(server, "root@example.com")
    refused = admin.post("/-/console/users", {"action": "invite", "email": "nobody@example.com", "role": "agent"})
    assert refused.status_code == 400 and "is not listed under agents:" in refused.text
    made = admin.post("/-/console/users", {"action": "invite", "email": "Ada@Example.com", "role": "agent", "name": "Ada"})
    assert made.status_code == 200
    link = made.text.split('aria-label="Invite link" readonly value="')[1].split('"')[0]
    path = link.split("127.0.0.1:8000")[1]  # the quickstart's public_url
    ada = Browser(server.url)
    form = ada.get(path)
    assert form.status_code == 200 and "invited as <strong>agent</strong>" in form.text
    short = ada.http.post(path, data={"csrf": csrf_of(form.text), "password": "short", "again": "short"})
    assert short.status_code == 400 and "at least 12 characters" in short.text
    form = ada.get(path)
    done = ada.http.post(path, data={"csrf": csrf_of(form.text), "password": PASSWORD, "again": PASSWORD})
    assert done.status_code == 303
    assert Browser(server.url).get(path).status_code == 404  # spent
    assert ada.get("/-/console/users").status_code == 403
    assert ada.get("/-/console/audit").status_code == 403
    audit = admin.get("/-/console/audit").text
    assert "user.invited" in audit and "ada@example.com" in audit and "root@example.com" in audit
    assert "user.password_set" in audit


def test_a_disabled_user_is_signed_out_at_once(server: ServerThread) -> None:
    server.call(lambda app: create_user(app, "leaver@example.com", "marketer", PASSWORD))
    leaver = signed_in(server, "leaver@example.com")
    assert leaver.get("/-/console/account").status_code == 200
    admin = signed_in(server, "root@example.com")
    assert admin.post("/-/console/users", {"action": "disable", "email": "leaver@example.com"}).status_code == 200
    assert leaver.get("/-/console/account").status_code == 303
    assert Browser(server.url).login("leaver@example.com").status_code == 401
    last_admin = admin.post("/-/console/users", {"action": "disable", "email": "root@example.com"})
    assert "the last active admin cannot be disabled" in last_admin.text  # not offered in the page, refused anyway


def test_sign_out_ends_the_session_on_the_server(server: ServerThread) -> None:
    mia = signed_in(server, "mia@example.com")
    cookie = mia.http.cookies.get("chinwag_console")
    token = csrf_of(mia.get("/-/console/account").text)
    assert mia.http.post("/-/console/logout", data={"csrf": token}).status_code == 303
    replayed = httpx.get(f"{server.url}/-/console/account", cookies={"chinwag_console": cookie})
    assert replayed.status_code == 303  # the old cookie no longer opens anything


def test_user_tokens_open_the_admin_api_by_role_and_stop_when_revoked(server: ServerThread) -> None:
    def make_token(browser: Browser) -> str:
        page = browser.post("/-/console/account", {"action": "create-token", "label": "script"})
        return page.text.split('aria-label="New token" readonly value="')[1].split('"')[0]

    admin_token = make_token(signed_in(server, "root@example.com"))
    mia = signed_in(server, "mia@example.com")
    mia_token = make_token(mia)

    def call(path: str, token: str) -> int:
        return httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"}).status_code

    assert call("/-/admin/config.json", admin_token) == 200
    assert call("/-/admin/report.json", mia_token) == 200
    assert call("/-/admin/config.json", mia_token) == 401
    assert call("/-/admin/config.json", ADMIN_TOKEN) == 200  # today's token still works
    assert call("/-/admin/config.json", "cwu_made-up") == 401
    token_id = mia.get("/-/console/account").text.split('name="token" value="')[1].split('"')[0]
    mia.post("/-/console/account", {"action": "revoke-token", "token": token_id})
    assert call("/-/admin/report.json", mia_token) == 401


def test_the_command_line_refuses_bad_users_with_a_clear_error(project: Path, server: ServerThread) -> None:
    def add(*args: str, password: str = PASSWORD) -> Any:
        return CliRunner().invoke(cli, ["users", "add", "--project", str(project), "--password-stdin", *args],
                                  input=password + "\n")

    assert "already has a console user" in add("--role", "admin", "root@example.com").output
    assert "is not listed under agents:" in add("--role", "agent", "stranger@example.com").output
    assert "at least 12 characters" in add("--role", "marketer", "short@example.com", password="short").output
    assert "is not an email address" in add("--role", "marketer", "not-an-email").output
    assert add("--role", "owner", "x@example.com").exit_code == 2
    assert add("--role", "admin", "root@example.com").exit_code == 1
    listed = CliRunner().invoke(cli, ["users", "list", "--project", str(project)])
    assert "root@example.com" in listed.output and "admin" in listed.output
    invited = CliRunner().invoke(cli, ["users", "invite", "--role", "agent", "--project", str(project), "linus@example.com"])
    assert invited.exit_code == 0 and "http://127.0.0.1:8000/-/console/invite/" in invited.output


"""The building blocks of a plugin's sandbox, with a minimal vendor made of them."""

from __future__ import annotations

import base64
from typing import Any

import attrs
import httpx
import pytest
from chinwag import sandbox
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route


class VendorError(Exception):
    """The vendor's API error."""


@attrs.define
class VendorState(sandbox.SandboxState):
    """A vendor whose token endpoint answers a bare access token."""

    def issue_tokens(self, user: str) -> dict[str, Any]:
        self.refresh_tokens["refresh-" + user] = user
        return {"access_token": self.new_access_token(user), "refresh_token": "refresh-" + user, "expires_in": 60}


def vendor_app(state: VendorState) -> Starlette:
    api = sandbox.fault_guard(state, lambda fault: JSONResponse({"fault": fault.status}, fault.status, fault.headers()),
                              VendorError, lambda error: JSONResponse({"error": str(error)}, 400))

    async def me(request: Request) -> Response:
        user = sandbox.bearer_user(request, state)
        if user is None:
            raise VendorError("who are you?")
        return JSONResponse({"user": user})

    async def token(request: Request) -> Response:
        form = await sandbox.token_form(request, state)
        if form is None:
            return JSONResponse({"error": "invalid_client"}, 401)
        return JSONResponse(state.redeem_code(form.get("code", ""), form.get("redirect_uri", "")) or {"error": "bad code"})

    async def consent(request: Request) -> Response:
        params = dict(request.query_params)
        if not sandbox.is_authorization_request(params, state):
            return HTMLResponse("unknown client", 400)
        return HTMLResponse(sandbox.consent_page(params, title="Vendor", heading="Vendor", asks="May we?",
                                                 owner_label="Account", allow_label="Allow"))

    async def decide(request: Request) -> Response:
        form = await sandbox.read_form(request)
        code = state.issue_code(form["email"], form["redirect_uri"])
        return sandbox.redirect_to_client(form, {"state": form["state"], "code": code})

    return Starlette(routes=[
        Route("/me", api(me)), Route("/token", api(token), methods=["POST"]),
        Route("/auth", consent), Route("/auth", decide, methods=["POST"]),
        Route("/_sandbox/faults", sandbox.fault_endpoint(state), methods=["POST"]),
    ])


@pytest.fixture
def server() -> Any:
    state = VendorState()
    with sandbox.serve_in_thread(vendor_app(state), state, lambda url, s: {"base_url": url, "client_id": s.client_id},
                                 label="vendor sandbox") as running:
        yield running


def test_served_on_a_free_loopback_port_with_its_plugin_settings(server: Any) -> None:
    assert server.url.startswith("http://127.0.0.1:") and not server.url.endswith(":0")
    assert server.plugin_config() == {"base_url": server.url, "client_id": "sandbox-client"}


def test_oauth_round_trip_and_expired_tokens(server: Any) -> None:
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/auth", params={"client_id": "sandbox-client", "response_type": "code", "state": "s<1>",
                                           "redirect_uri": "http://app/cb", "scope": "read write"})
        assert page.status_code == 200 and "<li>write</li>" in page.text and 'value="s&lt;1&gt;"' in page.text
        assert client.get("/auth", params={"client_id": "other", "response_type": "code"}).status_code == 400
        back = client.post("/auth", data={"email": "Ann@Example.com", "state": "s1", "redirect_uri": "http://app/cb"})
        assert back.status_code == 303 and back.headers["location"].startswith("http://app/cb?state=s1&code=sandbox-")
        code = httpx.URL(back.headers["location"]).params["code"]

        basic = base64.b64encode(b"sandbox-client:sandbox-secret").decode()
        form = {"code": code, "redirect_uri": "http://app/cb", "grant_type": "authorization_code"}
        tokens = client.post("/token", data=form, headers={"Authorization": f"Basic {basic}"}).json()
        wrong = client.post("/token", data={"client_id": "sandbox-client", "client_secret": "nope"})
        assert wrong.status_code == 401
        assert server.state.token_requests == ["authorization_code"]  # a wrong client is not recorded

        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert client.get("/me", headers=bearer).json() == {"user": "ann@example.com"}
        server.state.expire_access_tokens()
        assert client.get("/me", headers=bearer).json() == {"error": "who are you?"}


def test_faults_count_down_match_path_and_method_and_may_follow_the_work(server: Any) -> None:
    state = server.state
    with httpx.Client(base_url=server.url) as client:
        added = client.post("/_sandbox/faults", json={"status": 503, "times": 2, "path": "/me", "retry_after": "1"})
        assert added.status_code == 201 and added.json()["remaining"] == 2
        answers = [client.get("/me") for _ in range(3)]
        assert [a.status_code for a in answers] == [503, 503, 400] and answers[0].headers["Retry-After"] == "1"
        assert state.faults == []

        state.fail_next(500, method="POST")
        assert client.get("/me").status_code == 400  # GET does not match
        code = state.issue_code("ann@example.com", "http://app/cb")
        state.faults[0].after_processing = True
        done = client.post("/token", data={"client_id": "sandbox-client", "client_secret": "sandbox-secret",
                                           "code": code, "redirect_uri": "http://app/cb"})
        assert done.status_code == 500 and "ann@example.com" in state.refresh_tokens.values()  # the work happened


def test_stored_tokens_are_what_chinwag_keeps_after_a_connection() -> None:
    tokens = VendorState().stored_tokens("ann@example.com")
    assert set(tokens) == {"access_token", "refresh_token", "expires_at"}


def test_a_taken_port_fails_before_a_thread_starts() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError

    with pytest.raises(OSError):
        with sandbox.serve_in_thread(broken, VendorState(), lambda url, s: {}) as running:
            sandbox.serve_in_thread(broken, VendorState(), lambda url, s: {}, port=int(running.url.rsplit(":", 1)[1]))

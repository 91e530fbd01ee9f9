"""The files ``chinwag new-plugin`` writes, per kind of plugin (see ``chinwag.scaffold``).

Placeholders, replaced as whole words: ``__DIST__`` (the distribution, ``chinwag-acme``),
``__PACKAGE__`` (``chinwag_acme``), ``__ENTRY__`` (the entry point and settings key, ``acme``),
``__NAME__`` (what the plugin registers, ``acme``), ``__CLASS__`` (``Acme``), ``__ENV__`` (``ACME``), ``__ATTR__``
(``acme`` in camel case, for an attribute name) and ``__KIND__``.
"""

from __future__ import annotations

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"
'''

SETUP_CFG = '''\
[metadata]
name = __DIST__
version = 0.1.0
description = A chinwag __KIND__ plugin

[options]
packages = __PACKAGE__
python_requires = >=3.11
install_requires =
    chinwag
    httpx>=0.27

[options.extras_require]
test =
    pytest>=8
    pytest-asyncio>=0.23

[options.entry_points]
chinwag =
    __ENTRY__ = __PACKAGE__

[tool:pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
testpaths = tests
'''

README = '''\
# __DIST__

A chinwag __KIND__ plugin, made with `chinwag new-plugin __ENTRY__ --kind __KIND__`.

    pip install -e .            # chinwag plugins now lists __DIST__
    pip install -e '.[test]' && pytest

Its settings live in the project's chinwag.yaml under the entry-point name:

    plugins:
      __ENTRY__:
__SETTINGS__
Where it goes from here: __NEXT__

The hooks and contracts are described in chinwag's docs/plugins.md.
'''

COMMON_HEAD = '''\
from __future__ import annotations

from typing import Any, Callable

from chinwag import hookimpl
'''

# -- crm ------------------------------------------------------------------------------------------

CRM_INIT = '''\
"""__DIST__: a CRM connector (``chinwag.crm.CrmConnector``) over the CRM's HTTP API.

Inert until the project configures it: ``plugins: {__ENTRY__: {base_url: ..., api_key: {$env: ...}}}``.
``sandbox.py`` is a stand-in for the CRM's API that the tests run on loopback.
"""

''' + COMMON_HEAD + '''
from chinwag.plugin_settings import SettingsCheck

from .connector import __CLASS__Connector

PLUGIN = "__ENTRY__"  # the entry-point name: the key of this plugin's settings under ``plugins:``
SETTINGS = ("base_url", "api_key", "batch_size", "list_for_goal")


@hookimpl
def register_crm_connectors(register: Callable[[Any], Any], app: Any) -> None:
    """The connector, once the project gives a base_url."""
    settings = app.config.plugin_config(PLUGIN)
    if settings.get("base_url"):
        register(__CLASS__Connector(settings))


@hookimpl
def check_config(config: Any) -> list[Any]:
    """Unknown keys and a base_url that is not http(s), each at its line."""
    settings = config.plugin_config(PLUGIN)
    if not settings:
        return []
    check = SettingsCheck(PLUGIN, settings, str(config.file), (config.raw.get("plugins") or {}).get(PLUGIN))
    check.unknown_keys(SETTINGS)
    check.required_text(["base_url"], "is required: the CRM's API root")
    check.http_urls(["base_url"])
    return check.problems


@hookimpl
async def shutdown(app: Any) -> None:
    """Close the connector's HTTP client."""
    connector = app.crm_connectors.get(__CLASS__Connector.name)
    if isinstance(connector, __CLASS__Connector):
        await connector.close()
'''

CRM_CONNECTOR = '''\
"""The connector: each method of ``chinwag.crm.CrmConnector`` is one HTTP call to the CRM."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from chinwag.crm import Activity, LeadRecord, LeadUpsert, ListMembership, PullPage
from chinwag.outbox import PauseDelivery, RetryLater, Skipped


class __CLASS__Connector:
    """chinwag's CRM contract over the CRM's API (see ``sandbox.py`` for the API it expects)."""

    name = "__NAME__"
    tracking_cookie = None  # the name of the CRM's tracking cookie, if it has one
    event_types = frozenset({"lead_captured", "goal_reached", "meeting_booked"})

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.base_url = str(settings["base_url"]).rstrip("/")
        self.api_key = str(settings.get("api_key") or "")
        self.batch_size = int(settings.get("batch_size", 100))
        self.list_for_goal = settings.get("list_for_goal")
        self._client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        """One call; an outage or a limit is raised for the outbox to retry."""
        if self._client is None:  # made on first use, on the serving event loop
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=30,
                                             headers={"Authorization": f"Bearer {self.api_key}"})
        try:
            response = await self._client.request(method, path, **options)
        except httpx.HTTPError as error:
            raise RetryLater(f"CRM unreachable: {type(error).__name__}") from error
        if response.status_code == 429 and "reset" in response.json():
            raise PauseDelivery(dt.datetime.fromisoformat(response.json()["reset"]), "CRM quota exceeded")
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryLater(f"CRM answered {response.status_code}")
        response.raise_for_status()
        return response.json()

    @staticmethod
    def _record(lead: Mapping[str, Any]) -> LeadRecord:
        return LeadRecord(str(lead["id"]), lead.get("email"), lead.get("person") or {}, lead.get("company") or {})

    @staticmethod
    def _refusals(body: Mapping[str, Any]) -> dict[str, Skipped]:
        return {key: Skipped(reason) for key, reason in (body.get("refused") or {}).items()}

    async def find_lead(self, *, email: str | None = None, tracking_cookie: str | None = None) -> LeadRecord | None:
        """The person with this email, or None."""
        if email is None:
            return None
        lead = (await self._call("GET", "/leads/find", params={"email": email}))["lead"]
        return None if lead is None else self._record(lead)

    async def upsert_leads(self, leads: Sequence[LeadUpsert]) -> dict[str, Skipped]:
        """Create or update by email."""
        body = {"leads": [{"key": lead.key, "email": lead.email, "fields": dict(lead.fields)} for lead in leads]}
        return self._refusals(await self._call("POST", "/leads", json=body))

    async def record_activities(self, activities: Sequence[Activity]) -> dict[str, Skipped]:
        """Each activity under its key: the CRM applies a key once, so a re-send is harmless."""
        body = {"activities": [{"key": a.key, "type": a.type, "email": a.email, "at": a.occurred_at.isoformat(),
                                "dialogue": a.dialogue_id, "data": dict(a.data)} for a in activities]}
        return self._refusals(await self._call("POST", "/activities", json=body))

    def memberships(self, activity: Activity) -> list[ListMembership]:
        """A goal adds its lead to ``list_for_goal``, with the goal as status."""
        if self.list_for_goal and activity.type == "goal_reached" and activity.email:
            return [ListMembership(activity.key, activity.email, str(self.list_for_goal), str(activity.data.get("goal")))]
        return []

    async def add_to_lists(self, memberships: Sequence[ListMembership]) -> dict[str, Skipped]:
        """List memberships with their status."""
        if not memberships:
            return {}
        body = {"memberships": [{"key": m.key, "email": m.email, "list": m.list_id, "status": m.status}
                                for m in memberships]}
        return self._refusals(await self._call("POST", "/lists", json=body))

    async def pull(self, cursor: str | None) -> PullPage:
        """People changed since ``cursor``, one page."""
        page = await self._call("GET", "/changes", params={"cursor": cursor or "0"})
        return PullPage([self._record(lead) for lead in page["leads"]], str(page["next"]), page["done"], page.get("total"))

    async def forget(self, email: str) -> None:
        """Delete the person at the CRM."""
        await self._call("POST", "/forget", json={"email": email})
'''

CRM_SANDBOX = '''\
"""A stand-in for the CRM's API, served on loopback by the tests (``serve``), and its state as
chinwag's contract suite reads it (``Remote``, a ``chinwag.testing_crm.CrmRemote``).

Replace it with the real CRM's documented API as you write the connector: the tests then prove
the connector speaks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from chinwag.sandbox import SandboxServer, serve_in_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@attrs.define
class CrmState:
    """People by email, activities applied once per key, lists, refusals and an outage switch."""

    leads: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    changes: list[str] = attrs.field(factory=list)  # emails in the order they changed
    applied: list[str] = attrs.field(factory=list)  # activity keys, in the order applied
    lists: dict[str, dict[str, str | None]] = attrs.field(factory=dict)
    refused: set[str] = attrs.field(factory=set)
    down: bool = False
    last_id: int = 0

    def upsert(self, email: str, person: Mapping[str, Any], company: Mapping[str, Any]) -> dict[str, Any]:
        """Create or change a person; their change is listed for pulls."""
        lead = self.leads.get(email)
        if lead is None:
            self.last_id += 1
            lead = self.leads[email] = {"id": str(self.last_id), "email": email, "person": {}, "company": {}}
        lead["person"].update(person)
        lead["company"].update(company)
        self.changes.append(email)
        return lead


def create_app(state: CrmState) -> Starlette:
    """The CRM's HTTP API."""

    def outage() -> Response | None:
        return JSONResponse({"error": "unavailable"}, status_code=503) if state.down else None

    async def find(request: Request) -> Response:
        return outage() or JSONResponse({"lead": state.leads.get(request.query_params.get("email", ""))})

    async def leads(request: Request) -> Response:
        if (down := outage()) is not None:
            return down
        refused = {}
        for lead in (await request.json())["leads"]:
            if lead["email"] in state.refused:
                refused[lead["key"]] = f"{lead['email']} is on the CRM's blocklist"
            else:
                state.upsert(lead["email"], lead["fields"], {})
        return JSONResponse({"refused": refused})

    async def activities(request: Request) -> Response:
        if (down := outage()) is not None:
            return down
        refused = {}
        for activity in (await request.json())["activities"]:
            if activity["email"] is not None and activity["email"] not in state.leads:
                refused[activity["key"]] = f"no person with email {activity['email']}"
            elif activity["key"] not in state.applied:  # the key makes a re-send harmless
                state.applied.append(activity["key"])
        return JSONResponse({"refused": refused})

    async def lists(request: Request) -> Response:
        if (down := outage()) is not None:
            return down
        for membership in (await request.json())["memberships"]:
            state.lists.setdefault(membership["list"], {})[membership["email"]] = membership["status"]
        return JSONResponse({"refused": {}})

    async def changes(request: Request) -> Response:
        if (down := outage()) is not None:
            return down
        start = int(request.query_params.get("cursor") or 0)
        emails = state.changes[start:start + 100]
        return JSONResponse({"leads": [state.leads[email] for email in emails if email in state.leads],
                             "next": start + len(emails), "done": start + len(emails) >= len(state.changes)})

    async def forget(request: Request) -> Response:
        if (down := outage()) is not None:
            return down
        state.leads.pop((await request.json())["email"], None)
        return JSONResponse({"ok": True})

    return Starlette(routes=[
        Route("/leads/find", find), Route("/leads", leads, methods=["POST"]),
        Route("/activities", activities, methods=["POST"]), Route("/lists", lists, methods=["POST"]),
        Route("/changes", changes), Route("/forget", forget, methods=["POST"])])


def serve() -> SandboxServer[CrmState]:
    """The stand-in on a free loopback port (stop it, or use it in a ``with``)."""
    state = CrmState()
    return serve_in_thread(create_app(state), state, lambda url, _: {"base_url": url, "api_key": "test"},
                           label="__NAME__ sandbox")


@attrs.define
class Remote:
    """The sandbox's state as ``chinwag.testing_crm.CrmRemote``."""

    state: CrmState

    def add_lead(self, email: str, person: Mapping[str, Any], company: Mapping[str, Any]) -> str:
        """A person the CRM knows already."""
        return str(self.state.upsert(email, person, company)["id"])

    def link_tracking_cookie(self, email: str) -> str:
        """This CRM has no tracking cookie."""
        raise NotImplementedError

    def has_lead(self, email: str) -> bool:
        """Whether the CRM holds ``email``."""
        return email in self.state.leads

    def lead_value(self, email: str, attribute: str) -> Any:
        """Fields are stored under chinwag's attribute names."""
        return self.state.leads.get(email, {}).get("person", {}).get(attribute)

    def recorded_activities(self) -> list[str]:
        """Activity keys applied."""
        return list(self.state.applied)

    def list_members(self, list_id: str) -> Mapping[str, str | None]:
        """A list's members and their status."""
        return dict(self.state.lists.get(list_id, {}))

    def refuse(self, email: str) -> None:
        """Blocklist ``email``."""
        self.state.refused.add(email)

    def outage(self) -> None:
        """Answer 503 to everything."""
        self.state.down = True

    def recover(self) -> None:
        """Answer again."""
        self.state.down = False
'''

CRM_TEST = '''\
"""The connector against chinwag's CRM contract suite, over real HTTP to the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from chinwag.testing import write_project
from chinwag.testing_crm import CrmConnectorContract, started_connector

from __PACKAGE__.sandbox import CrmState, Remote, serve


@pytest.fixture
def crm() -> Iterator[Any]:
    """The sandbox on a free loopback port."""
    with serve() as server:
        yield server


class Test__CLASS__Contract(CrmConnectorContract):
    """Lookup by email, upsert, activities once, lists, pull with a cursor, forget, refusals."""

    @pytest.fixture
    def remote(self, crm: Any) -> Remote:
        return Remote(crm.state)

    @pytest.fixture
    async def connector(self, tmp_path: Path, crm: Any) -> AsyncIterator[Any]:
        settings = {**crm.plugin_config(), "list_for_goal": "chat-leads"}
        project = write_project(tmp_path / "p", {"name": "t", "plugins": {"__ENTRY__": settings}})
        async with started_connector(project, "__NAME__") as connector:
            yield connector
'''

# -- calendar ---------------------------------------------------------------------------------------

CALENDAR_INIT = '''\
"""__DIST__: a calendar provider (``chinwag.calendars.CalendarProvider``) over a calendar's HTTP API.

Inert until the project configures it: ``plugins: {__ENTRY__: {base_url: ...}}``. ``sandbox.py``
is a stand-in for the calendar's API that the tests run on loopback.
"""

''' + COMMON_HEAD + '''
from .provider import __CLASS__Calendar

PLUGIN = "__ENTRY__"  # the entry-point name: the key of this plugin's settings under ``plugins:``


@hookimpl
def register_calendar_providers(register: Callable[[Any], Any], app: Any) -> None:
    """The provider, once the project gives a base_url."""
    settings = app.config.plugin_config(PLUGIN)
    if settings.get("base_url"):
        register(__CLASS__Calendar(settings))
'''

CALENDAR_PROVIDER = '''\
"""The provider: free/busy, and events created (idempotently), moved and cancelled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
from chinwag.calendars import CalendarUnavailable, CreatedEvent, EventRequest, Grant, GrantRevoked, Interval


class __CLASS__Calendar:
    """chinwag's calendar contract over the calendar's API (see ``sandbox.py``)."""

    name = "__NAME__"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.base_url = str(settings["base_url"]).rstrip("/")

    def authorization_url(self, app: Any, state: str, redirect_uri: str, login_hint: str | None = None) -> str:
        """Where an agent consents to chinwag using their calendar (``login_hint``: the account expected)."""
        query = {"state": state, "redirect_uri": redirect_uri, **({"login_hint": login_hint} if login_hint else {})}
        return f"{self.base_url}/authorize?" + urlencode(query)

    async def exchange_code(self, app: Any, code: str, redirect_uri: str) -> dict[str, Any]:
        """The tokens for an authorization code."""
        return await self._call(None, "POST", "/token", json={"code": code, "redirect_uri": redirect_uri})

    async def account_emails(self, app: Any, tokens: dict[str, Any]) -> list[str]:
        """The address of the account that consented (chinwag refuses anyone but the agent)."""
        me = await self._call(Grant("", "", dict(tokens)), "GET", "/me")
        return [str(me["email"]).lower()]

    async def find_event(self, app: Any, grant: Grant, idempotency_key: str, start: dt.datetime,
                         end: dt.datetime) -> str | None:
        """The event made under ``idempotency_key``, or None (not made, or cancelled)."""
        try:
            body = await self._call(grant, "GET", f"/calendars/{grant.calendar_id}/events/{idempotency_key}")
        except httpx.HTTPStatusError as error:
            if error.response.status_code == 404:
                return None
            raise
        return str(body["id"])

    async def _call(self, grant: Grant | None, method: str, path: str, **options: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {grant.tokens.get('access_token')}"} if grant else {}
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=30, headers=headers) as client:
                response = await client.request(method, path, **options)
        except httpx.HTTPError as error:
            raise CalendarUnavailable(f"calendar unreachable: {type(error).__name__}") from error
        if response.status_code == 401:
            raise GrantRevoked("the calendar refused the agent's token: reconnect")
        if response.status_code == 429 or response.status_code >= 500:
            raise CalendarUnavailable(f"calendar answered {response.status_code}")
        response.raise_for_status()
        return response.json() if response.content else {}

    async def busy(self, app: Any, grant: Grant, start: dt.datetime, end: dt.datetime) -> list[Interval]:
        """The agent's busy spans between ``start`` and ``end``."""
        body = await self._call(grant, "GET", f"/calendars/{grant.calendar_id}/busy",
                                params={"start": start.isoformat(), "end": end.isoformat()})
        return [Interval(dt.datetime.fromisoformat(b["start"]), dt.datetime.fromisoformat(b["end"])) for b in body["busy"]]

    async def create_event(self, app: Any, grant: Grant, event: EventRequest) -> CreatedEvent:
        """PUT under the idempotency key: the same key never makes two events."""
        body = await self._call(grant, "PUT", f"/calendars/{grant.calendar_id}/events/{event.idempotency_key}", json={
            "start": event.start.isoformat(), "end": event.end.isoformat(), "summary": event.summary,
            "description": event.description, "attendee": event.attendee_email})
        return CreatedEvent(str(body["id"]))

    async def cancel_event(self, app: Any, grant: Grant, remote_id: str) -> None:
        """Cancel the event."""
        await self._call(grant, "DELETE", f"/calendars/{grant.calendar_id}/events/{remote_id}")

    async def move_event(self, app: Any, grant: Grant, remote_id: str, start: dt.datetime, end: dt.datetime) -> None:
        """Move the event."""
        await self._call(grant, "PATCH", f"/calendars/{grant.calendar_id}/events/{remote_id}",
                         json={"start": start.isoformat(), "end": end.isoformat()})
'''

CALENDAR_SANDBOX = '''\
"""A stand-in for the calendar's API, served on loopback by the tests: events by calendar, keyed
by the idempotency key, and busy spans computed from them. Replace it with the real calendar's
documented API as you write the provider."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
from chinwag.sandbox import SandboxServer, serve_in_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN = "sandbox-token"


@attrs.define
class CalendarState:
    """Events by calendar and key; ``revoked`` makes the token useless (the agent removed access)."""

    events: dict[str, dict[str, dict[str, Any]]] = attrs.field(factory=dict)
    revoked: bool = False
    account: str = "agent@example.com"  # who consents (``/me``)


def create_app(state: CalendarState) -> Starlette:
    """The calendar's HTTP API."""

    def authorized(request: Request) -> bool:
        return not state.revoked and request.headers.get("Authorization") == f"Bearer {TOKEN}"

    async def token(request: Request) -> Response:
        return JSONResponse({"access_token": TOKEN, "refresh_token": "sandbox-refresh", "expires_in": 3600})

    async def busy(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        start = dt.datetime.fromisoformat(request.query_params["start"])
        end = dt.datetime.fromisoformat(request.query_params["end"])
        spans = [{"start": e["start"], "end": e["end"]}
                 for e in state.events.get(request.path_params["calendar"], {}).values()
                 if dt.datetime.fromisoformat(e["start"]) < end and dt.datetime.fromisoformat(e["end"]) > start]
        return JSONResponse({"busy": sorted(spans, key=lambda span: span["start"])})

    async def me(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"email": state.account})

    async def event(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        events = state.events.setdefault(request.path_params["calendar"], {})
        key = request.path_params["key"]
        if request.method == "GET":
            return JSONResponse(events[key]) if key in events else JSONResponse({"error": "not found"}, 404)
        if request.method == "DELETE":
            events.pop(key, None)
            return Response(status_code=204)
        if request.method == "PATCH":
            events[key].update(await request.json())
            return JSONResponse(events[key])
        events.setdefault(key, {"id": key, **(await request.json())})  # PUT: the same key makes one event
        return JSONResponse(events[key])

    return Starlette(routes=[Route("/token", token, methods=["POST"]), Route("/me", me),
                             Route("/calendars/{calendar}/busy", busy),
                             Route("/calendars/{calendar}/events/{key}", event,
                                   methods=["GET", "PUT", "PATCH", "DELETE"])])


def serve() -> SandboxServer[CalendarState]:
    """The stand-in on a free loopback port."""
    state = CalendarState()
    return serve_in_thread(create_app(state), state, lambda url, _: {"base_url": url}, label="__NAME__ sandbox")


@attrs.define
class Remote:
    """The sandbox's state as ``chinwag.testing_calendar.CalendarRemote`` (calendars are named
    after their agent). It cannot fail on demand and has no expiring tokens: add those as the
    real API needs them, and set the suite's ``injects_faults`` and ``uses_tokens``."""

    state: CalendarState

    def add_busy(self, agent: str, start: dt.datetime, end: dt.datetime) -> None:
        """An appointment of the agent's own."""
        key = f"own-{start.isoformat()}"
        self.state.events.setdefault(agent, {})[key] = {"id": key, "start": start.isoformat(), "end": end.isoformat()}

    def live_events(self, agent: str) -> list[str]:
        """The agent's events (cancelled ones are deleted)."""
        return [key for key in self.state.events.get(agent, {}) if not key.startswith("own-")]

    def revoke(self, agent: str) -> None:
        """The agent removed access."""
        self.state.revoked = True

    def fail_next(self, status: int, times: int = 1) -> None:
        raise NotImplementedError

    def lose_next_create_reply(self) -> None:
        raise NotImplementedError

    def fail_token_endpoint(self, status: int, times: int = 1) -> None:
        raise NotImplementedError

    def expire_access_tokens(self) -> None:
        raise NotImplementedError

    def token_requests(self) -> list[str]:
        return []
'''

CALENDAR_TEST = '''\
"""The provider, registered by the plugin, against chinwag's calendar contract suite over real
HTTP to the sandbox; and the connect step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chinwag.app import Chinwag
from chinwag.calendars import Grant
from chinwag.testing import write_project
from chinwag.testing_calendar import CalendarProviderContract

from __PACKAGE__.sandbox import TOKEN, Remote, serve

AGENT = "agent@example.com"


@pytest.fixture
def calendar() -> Iterator[Any]:
    with serve() as server:
        yield server


def provider_of(tmp_path: Path, calendar: Any) -> Any:
    project = write_project(tmp_path / "p", {"name": "t", "plugins": {"__ENTRY__": calendar.plugin_config()}})
    return Chinwag.from_project(project).calendar_providers["__NAME__"]


class Test__CLASS__Contract(CalendarProviderContract):
    """Busy times, a meeting once per key, cancel, move, a revoked grant."""

    agent = AGENT
    uses_tokens = False  # the sandbox's token does not expire
    injects_faults = False  # the sandbox cannot fail on demand

    @pytest.fixture
    def provider(self, tmp_path: Path, calendar: Any) -> Any:
        return provider_of(tmp_path, calendar)

    @pytest.fixture
    def grant(self, saved: list) -> Grant:
        return Grant(AGENT, AGENT, {"access_token": TOKEN}, saver=None)

    @pytest.fixture
    def remote(self, calendar: Any) -> Remote:
        return Remote(calendar.state)


async def test_connecting_trades_the_code_for_a_working_token(tmp_path: Path, calendar: Any) -> None:
    tokens = await provider_of(tmp_path, calendar).exchange_code(None, "a-code", "http://127.0.0.1/cb")
    assert tokens["access_token"] == TOKEN and tokens["refresh_token"]
'''

# -- routing ----------------------------------------------------------------------------------------

ROUTING_INIT = '''\
"""__DIST__: a routing strategy: in which order the free agents are offered a meeting.

A meeting card names it with ``strategy: __NAME__``.
"""

''' + COMMON_HEAD + '''
from chinwag.meetings.routing import RoutingContext, rotation


class __CLASS__Strategy:
    """The agents with the fewest meetings this period first; ties in turn after the last taker."""

    name = "__NAME__"

    async def choose(self, context: RoutingContext) -> list[str]:
        """``context.candidates`` (the agents free then) in the order to try them."""
        counts = await context.meetings_since(context.period_start)
        turn = [agent for agent in rotation(context.agents, context.last_agent) if agent in context.candidates]
        return sorted(turn, key=lambda agent: counts.get(agent, 0))


@hookimpl
def register_routing_strategies(register: Callable[[Any], Any]) -> None:
    """The strategy."""
    register(__CLASS__Strategy())
'''

ROUTING_TEST = '''\
"""The strategy's order, and its registration."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from chinwag.app import Chinwag
from chinwag.meetings.routing import RoutingContext
from chinwag.testing import write_project

from __PACKAGE__ import __CLASS__Strategy

AGENTS = ("a@example.com", "b@example.com", "c@example.com")


def context(last: str | None, counts: dict[str, int], free: tuple[str, ...] = AGENTS) -> RoutingContext:
    async def meetings_since(_: dt.datetime | None) -> dict[str, int]:
        return counts

    return RoutingContext(queue="q", agents=AGENTS, candidates=free, last_agent=last, weights={},
                          period_start=dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc), meetings_since=meetings_since)


async def test_fewest_meetings_first_then_in_turn() -> None:
    strategy = __CLASS__Strategy()
    assert await strategy.choose(context("a@example.com", {"b@example.com": 2})) == [
        "c@example.com", "a@example.com", "b@example.com"]
    assert await strategy.choose(context(None, {}, free=("c@example.com",))) == ["c@example.com"]


def test_registered_for_meeting_cards(tmp_path: Path) -> None:
    app = Chinwag.from_project(write_project(tmp_path / "p", {"name": "t"}))
    assert app.routing_strategies.plugin_of("__NAME__") == "__DIST__"
'''

# -- attribute --------------------------------------------------------------------------------------

ATTRIBUTE_INIT = '''\
"""__DIST__: a lead attribute, ``lead.__ATTR__``, that dialogues may map answers to, branch on and target."""

''' + COMMON_HEAD + '''
from chinwag.attributes import Attribute

ATTRIBUTE = Attribute("lead.__ATTR__", "string", "__CLASS__")


@hookimpl
def register_attributes(register: Callable[[Any], Any]) -> None:
    """The attribute."""
    register(ATTRIBUTE)
'''

ATTRIBUTE_TEST = '''\
"""A dialogue maps an answer to the attribute and reads it back, over the real WebSocket."""

from __future__ import annotations

from pathlib import Path

from chinwag.testing import ScriptedVisitor, ServerThread, write_project

DIALOGUE = {"id": "d", "name": "D", "cards": [
    {"id": "ask", "type": "capture", "text": "Your answer?", "field": "lead.__ATTR__"},
    {"id": "echo", "type": "end", "text": "You said {{lead.__ATTR__}}."}]}


async def test_a_dialogue_stores_and_reads_the_attribute(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"name": "t", "response_delay": 0}, {"d": DIALOGUE})
    with ServerThread(project, demo=False) as server:
        assert server.app.attributes.plugin_of("lead.__ATTR__") == "__DIST__"
        async with ScriptedVisitor(server) as visitor:
            await visitor.run_through("forty-two")
    assert "You said forty-two." in visitor.texts()
'''

# -- card -------------------------------------------------------------------------------------------

CARD_INIT = '''\
"""__DIST__: a dialogue card type, ``type: __NAME__``, that says its ``text`` in capitals."""

''' + COMMON_HEAD + '''
from chinwag.cards import CardContext, Outcome
from chinwag.languages import check_text


class __CLASS__Card:
    """Says ``text`` upper-cased, then goes on."""

    name = "__NAME__"

    def check(self, card: Any, dialogue: Any, attributes: Any) -> list[str]:
        """``text`` is required: one text, or one per language of the dialogue (``{en: ..., es: ...}``)."""
        return check_text(card, "text", dialogue)

    def enter(self, card: Any, context: CardContext) -> Outcome:
        """Say the text, in the visitor's language."""
        return Outcome(say=(context.localise(card.get("text")).upper(),))

    def receive(self, card: Any, context: CardContext, value: Any) -> Outcome:
        """The card asks nothing."""
        raise AssertionError("a __NAME__ card asks nothing")

    def targets(self, card: Any) -> list[str | None]:
        """Only the default way on."""
        return [None]


@hookimpl
def register_cards(register: Callable[[Any], Any]) -> None:
    """The card type."""
    register(__CLASS__Card())
'''

CARD_TEST = '''\
"""A dialogue with the card, played over the real WebSocket; a card without text is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from chinwag.app import Chinwag
from chinwag.problems import InvalidProject
from chinwag.testing import ScriptedVisitor, ServerThread, write_project


def dialogue(**card: str) -> dict:
    return {"id": "d", "name": "D", "cards": [{"id": "c", "type": "__NAME__", **card},
                                              {"id": "bye", "type": "end", "text": "bye"}]}


async def test_the_card_says_its_text(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"name": "t", "response_delay": 0}, {"d": dialogue(text="hello")})
    with ServerThread(project, demo=False) as server:
        async with ScriptedVisitor(server) as visitor:
            await visitor.run_through()
    assert visitor.texts()[:2] == ["HELLO", "bye"]


def test_a_card_without_text_is_refused(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"name": "t"}, {"d": dialogue()})
    with pytest.raises(InvalidProject, match="'text' is required"):
        Chinwag.from_project(project)
'''

# -- theme ------------------------------------------------------------------------------------------

THEME_INIT = '''\
"""__DIST__: the widget's colours, from ``plugins: {__ENTRY__: {primary: "#0a7d4f"}}``."""

''' + COMMON_HEAD + '''
import re

from chinwag.plugin_settings import SettingsCheck

PLUGIN = "__ENTRY__"  # the entry-point name: the key of this plugin's settings under ``plugins:``
DEFAULT_PRIMARY = "#0a7d4f"
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@hookimpl
def prepare_theme(theme: dict[str, Any], app: Any) -> None:
    """The primary colour on every part that uses it."""
    primary = app.config.plugin_config(PLUGIN).get("primary", DEFAULT_PRIMARY)
    for var in ("--cw-primary", "--cw-launcher", "--cw-header", "--cw-visitor-bubble"):
        theme["vars"][var] = primary


@hookimpl
def check_config(config: Any) -> list[Any]:
    """``primary`` must be a #rrggbb colour."""
    settings = config.plugin_config(PLUGIN)
    check = SettingsCheck(PLUGIN, settings, str(config.file), (config.raw.get("plugins") or {}).get(PLUGIN))
    check.unknown_keys(["primary"])
    if "primary" in settings and not COLOUR.match(str(settings["primary"])):
        check.problem("primary", "must be a colour like #0a7d4f")
    return check.problems
'''

THEME_TEST = '''\
"""The widget receives the colour in its welcome; a malformed colour is refused with its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from chinwag.app import Chinwag
from chinwag.problems import InvalidProject
from chinwag.testing import ScriptedVisitor, ServerThread, write_project


async def test_the_widget_gets_the_colour(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"name": "t", "plugins": {"__ENTRY__": {"primary": "#123456"}}})
    with ServerThread(project, demo=False) as server:
        async with ScriptedVisitor(server) as visitor:
            welcome = await visitor.connect()
    assert welcome["theme"]["vars"]["--cw-primary"] == "#123456"


def test_a_malformed_colour_is_refused(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", {"name": "t", "plugins": {"__ENTRY__": {"primary": "green"}}})
    with pytest.raises(InvalidProject, match=r"chinwag.yaml:\\d+: plugins.__ENTRY__.primary: must be a colour"):
        Chinwag.from_project(project)
'''

# kind -> (the files under the package and tests, the README's settings lines, its next steps)
KINDS: dict[str, tuple[dict[str, str], str, str]] = {
    "crm": ({"__PACKAGE__/__init__.py": CRM_INIT, "__PACKAGE__/connector.py": CRM_CONNECTOR,
             "__PACKAGE__/sandbox.py": CRM_SANDBOX, "tests/test___ENTRY__.py": CRM_TEST},
            "        base_url: https://crm.example/api\n        api_key: {$env: __ENV___API_KEY}\n",
            "make `sandbox.py` speak your CRM's documented API, then the connector; the contract "
            "suite (`chinwag.testing_crm`) keeps it honest."),
    "calendar": ({"__PACKAGE__/__init__.py": CALENDAR_INIT, "__PACKAGE__/provider.py": CALENDAR_PROVIDER,
                  "__PACKAGE__/sandbox.py": CALENDAR_SANDBOX, "tests/test___ENTRY__.py": CALENDAR_TEST},
                 "        base_url: https://calendar.example/api\n",
                 "make `sandbox.py` speak your calendar's documented API, then the provider; "
                 "`chinwag.calendar_plugin` has an OAuth 2 base class."),
    "routing": ({"__PACKAGE__/__init__.py": ROUTING_INIT, "tests/test___ENTRY__.py": ROUTING_TEST},
                "        {}  # none yet\n", "name it on a meeting card: `strategy: __NAME__`."),
    "attribute": ({"__PACKAGE__/__init__.py": ATTRIBUTE_INIT, "tests/test___ENTRY__.py": ATTRIBUTE_TEST},
                  "        {}  # none yet\n", "map answers to it: `field: lead.__ATTR__`."),
    "card": ({"__PACKAGE__/__init__.py": CARD_INIT, "tests/test___ENTRY__.py": CARD_TEST},
             "        {}  # none yet\n", "use it in a dialogue: `type: __NAME__`."),
    "theme": ({"__PACKAGE__/__init__.py": THEME_INIT, "tests/test___ENTRY__.py": THEME_TEST},
              '        primary: "#0a7d4f"\n', "set the other `--cw-*` variables (docs/widget.md)."),
}

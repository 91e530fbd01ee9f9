"""The Marketo sandbox over real HTTP: what a Marketo client would see."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import time
from collections.abc import Callable
from typing import Any

import httpx
from chinwag_marketo.sandbox import SandboxServer

IDENTITY = "/identity/oauth/token"
LEADS = "/rest/v1/leads.json"


def ok(answer: httpx.Response) -> Any:
    """The ``result`` of a successful envelope."""
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is True, body
    return body.get("result")


def error_code(answer: httpx.Response) -> str:
    """The code of a failed envelope (HTTP 200, ``success`` false)."""
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["success"] is False and isinstance(body["requestId"], str), body
    return body["errors"][0]["code"]


def token_params(server: SandboxServer, **changes: str) -> dict[str, str]:
    config = server.plugin_config()
    return {"grant_type": "client_credentials", "client_id": config["client_id"],
            "client_secret": config["client_secret"], **changes}


# -- identity --------------------------------------------------------------------------------------

def test_token_is_reused_until_it_expires_then_602_once_and_601_after(server: SandboxServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        first = http.get(IDENTITY, params=token_params(server)).json()
        assert first["token_type"] == "bearer" and 0 < first["expires_in"] <= 3600 and first["scope"]
        again = http.post(IDENTITY, params=token_params(server)).json()
        assert again["access_token"] == first["access_token"] and again["expires_in"] <= first["expires_in"]

        auth = {"Authorization": f"Bearer {first['access_token']}"}
        assert ok(http.get("/rest/v1/leads/describe.json", headers=auth))
        server.state.expire_access_tokens()
        assert error_code(http.get("/rest/v1/leads/describe.json", headers=auth)) == "602"
        assert error_code(http.get("/rest/v1/leads/describe.json", headers=auth)) == "601"
        fresh = http.get(IDENTITY, params=token_params(server)).json()
        assert fresh["access_token"] != first["access_token"]
        assert ok(http.get("/rest/v1/leads/describe.json", params={"access_token": fresh["access_token"]}))
        assert error_code(http.get("/rest/v1/leads/describe.json", headers={"Authorization": "Bearer nope"})) == "601"


def test_short_token_lifetime_expires_by_itself(server: SandboxServer, new_token: Callable[[], str]) -> None:
    server.state.access_token_lifetime = 1
    token = new_token()
    time.sleep(1.1)
    answer = httpx.get(f"{server.url}/rest/v1/leads/describe.json", headers={"Authorization": f"Bearer {token}"})
    assert error_code(answer) == "602"


def test_bad_credentials_get_http_401_and_count_nothing(server: SandboxServer) -> None:
    answer = httpx.get(f"{server.url}{IDENTITY}", params=token_params(server, client_secret="wrong"))
    assert answer.status_code == 401
    assert server.state.limits.calls_today == 0


# -- envelope and leads ----------------------------------------------------------------------------

def test_envelope_has_request_id_and_string_codes(client: httpx.Client) -> None:
    body = client.get(LEADS, params={"filterType": "email", "filterValues": "nobody@example.com"}).json()
    assert body["success"] is True and body["result"] == [] and "#" in body["requestId"]
    failed = client.get("/rest/v1/programs/999/members.json").json()
    assert failed["success"] is False and failed["errors"] == [{"code": "610", "message": "Requested resource not found"}]
    assert client.post(LEADS, content=b"{not json").json()["errors"][0]["code"] == "609"


def test_create_or_update_gives_record_results_in_input_order(server: SandboxServer, client: httpx.Client) -> None:
    server.state.refuse_email("blocked@example.com", "1006", "Field not found")
    ok(client.post(LEADS, json={"input": [{"email": "old@example.com", "firstName": "Old"}]}))
    result = ok(client.post(LEADS, json={"action": "createOrUpdate", "lookupField": "email", "input": [
        {"email": "new@example.com", "firstName": "Nia"},
        {"email": "old@example.com", "firstName": "Olga"},
        {"email": "josé@example.com"},
        {"email": "not-an-email"},
        {"email": "blocked@example.com"},
    ]}))
    assert [r["status"] for r in result] == ["created", "updated", "skipped", "skipped", "skipped"]
    assert [r["reasons"][0]["code"] for r in result[2:]] == ["1003", "1003", "1006"]
    assert isinstance(result[0]["id"], int)

    only = ok(client.post(LEADS, json={"action": "createOnly", "input": [{"email": "old@example.com"}]}))
    assert only[0]["reasons"][0]["code"] == "1005"
    update = ok(client.post(LEADS, json={"action": "updateOnly", "input": [{"email": "ghost@example.com"}]}))
    assert update[0]["reasons"][0]["code"] == "1004"


def test_lookup_by_email_id_and_cookie_with_chosen_fields(server: SandboxServer, client: httpx.Client) -> None:
    created = ok(client.post(LEADS, json={"input": [{"email": "Ann@Example.com", "company": "Acme"}]}))
    lead_id = created[0]["id"]
    server.state.cookies["id:123-ABC-456&token:_mch-example.com-1"] = lead_id
    by_email = ok(client.get(LEADS, params={"filterType": "email", "filterValues": "ann@example.com,x@y.com",
                                             "fields": "id,email,company,title"}))
    assert by_email == [{"id": lead_id, "email": "Ann@Example.com", "company": "Acme", "title": None}]
    by_cookie = ok(client.get(LEADS, params={"filterType": "cookies",
                                              "filterValues": "id:123-ABC-456&token:_mch-example.com-1"}))
    assert by_cookie[0]["id"] == lead_id and set(by_cookie[0]) >= {"createdAt", "updatedAt", "firstName"}
    assert ok(client.get(LEADS, params={"filterType": "id", "filterValues": str(lead_id)}))[0]["id"] == lead_id
    too_many = ",".join(f"a{i}@x.com" for i in range(301))
    assert error_code(client.get(LEADS, params={"filterType": "email", "filterValues": too_many})) == "1003"


def test_lead_changes_are_paged_from_a_token(client: httpx.Client) -> None:
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).isoformat()
    ok(client.post(LEADS, json={"input": [{"email": "c@example.com", "title": "CTO"}]}))
    ok(client.post(LEADS, json={"input": [{"email": "c@example.com", "title": "CEO"}]}))
    token = client.get("/rest/v1/activities/pagingtoken.json", params={"sinceDatetime": since}).json()["nextPageToken"]
    body = client.get("/rest/v1/activities/leadchanges.json", params={"nextPageToken": token, "fields": "title"}).json()
    assert body["moreResult"] is False and body["nextPageToken"]
    assert [c["fields"][0] for c in body["result"]] == [{"id": 6, "name": "title", "newValue": "CEO", "oldValue": "CTO"}]


def test_deleted_leads_are_gone(client: httpx.Client) -> None:
    lead_id = ok(client.post(LEADS, json={"input": [{"email": "bye@example.com"}]}))[0]["id"]
    result = ok(client.post("/rest/v1/leads/delete.json", json={"input": [{"id": lead_id}, {"id": 99999}]}))
    assert result[0] == {"id": lead_id, "status": "deleted"} and result[1]["reasons"][0]["code"] == "1004"
    assert ok(client.get(LEADS, params={"filterType": "email", "filterValues": "bye@example.com"})) == []


# -- custom activities -----------------------------------------------------------------------------

def test_custom_activities_are_accepted_only_once_the_type_is_approved(client: httpx.Client) -> None:
    lead_id = ok(client.post(LEADS, json={"input": [{"email": "v@example.com"}]}))[0]["id"]
    draft = ok(client.post("/rest/v1/activities/external/type.json", json={
        "apiName": "chatConversation", "name": "Chat Conversation", "triggerName": "Has a chat",
        "filterName": "Had a chat", "primaryAttribute": {"apiName": "conversationId", "name": "Conversation Id"}}))[0]
    assert draft["status"] == "draft" and draft["id"] >= 100001
    ok(client.post("/rest/v1/activities/external/type/chatConversation/attributes/create.json",
                   json={"attribute": [{"apiName": "transcript", "name": "Transcript", "dataType": "text"}]}))
    activity = {"leadId": lead_id, "activityDate": "2026-11-02T10:00:00+01:00", "activityTypeId": draft["id"],
                "primaryAttributeValue": "conv-42", "attributes": [{"apiName": "transcript", "value": "hi"}]}
    assert ok(client.post("/rest/v1/activities/external.json", json={"input": [activity]}))[0]["status"] == "skipped"

    ok(client.post("/rest/v1/activities/external/type/chatConversation/approve.json"))
    result = ok(client.post("/rest/v1/activities/external.json",
                            json={"input": [activity, {**activity, "leadId": 424242}]}))
    assert result[0]["status"] == "added" and result[0]["marketoGUID"]
    assert result[1] == {"status": "skipped", "errors": [{"code": "1004", "message": "Lead not found"}]}

    token = client.get("/rest/v1/activities/pagingtoken.json",
                       params={"sinceDatetime": "2026-11-01T00:00:00Z"}).json()["nextPageToken"]
    found = ok(client.get("/rest/v1/activities.json", params={
        "activityTypeIds": str(draft["id"]), "nextPageToken": token, "leadIds": str(lead_id)}))
    assert [(a["primaryAttributeValue"], a["activityDate"]) for a in found] == [("conv-42", "2026-11-02T09:00:00Z")]
    assert found[0]["attributes"][0]["name"] == "Transcript" and found[0]["attributes"][0]["value"] == "hi"


def test_activity_type_and_attribute_limits(client: httpx.Client) -> None:
    def new_type(n: int) -> httpx.Response:
        return client.post("/rest/v1/activities/external/type.json", json={
            "apiName": f"t{n}", "name": f"T{n}", "triggerName": "x", "filterName": "y",
            "primaryAttribute": {"apiName": "p", "name": "P"}})
    for n in range(10):
        ok(new_type(n))
    assert error_code(new_type(10)) == "1027"
    many = [{"apiName": f"a{i}", "name": f"A{i}"} for i in range(21)]
    assert error_code(client.post("/rest/v1/activities/external/type/t0/attributes/create.json",
                                  json={"attribute": many})) == "1028"


# -- programs --------------------------------------------------------------------------------------

def test_program_status_upsert_skips_backwards_moves_and_unknown_statuses(client: httpx.Client) -> None:
    ids = [r["id"] for r in ok(client.post(LEADS, json={"input": [{"email": "p1@x.com"}, {"email": "p2@x.com"}]}))]
    path = "/rest/v1/programs/1001/members/status.json"
    first = ok(client.post(path, json={"statusName": "Engaged", "input": [{"leadId": ids[0]}]}))
    assert first == [{"seq": 0, "status": "created", "leadId": ids[0]}]
    second = ok(client.post(path, json={"statusName": "Visited", "input": [{"leadId": ids[0]}, {"leadId": ids[1]}]}))
    assert second[0]["reasons"][0]["code"] == "1037" and second[1]["status"] == "created"
    assert ok(client.post(path, json={"statusName": "Meeting Booked", "input": [{"leadId": ids[0]}]}))[0]["status"] == "updated"
    assert ok(client.post(path, json={"statusName": "Bogus", "input": [{"leadId": ids[0]}]}))[0]["reasons"][0]["code"] == "1025"
    assert error_code(client.post("/rest/v1/programs/5/members/status.json",
                                  json={"statusName": "Engaged", "input": [{"leadId": ids[0]}]})) == "610"
    members = ok(client.get("/rest/v1/programs/1001/members.json",
                            params={"filterType": "statusName", "filterValues": "Meeting Booked"}))
    assert [m["leadId"] for m in members] == [ids[0]]


# -- limits and faults -----------------------------------------------------------------------------

def test_rate_limit_606_then_recovers(server: SandboxServer, client: httpx.Client) -> None:
    server.state.limits.rate_limit, server.state.limits.rate_window = 10, 1.0
    codes = [client.get("/rest/v1/leads/describe.json").json().get("errors", [{}])[0].get("code") for _ in range(12)]
    assert codes == [None] * 10 + ["606", "606"]
    assert server.state.limits.peak_rate() == 10
    time.sleep(1.05)
    assert ok(client.get("/rest/v1/leads/describe.json"))


async def test_concurrency_615_when_more_than_ten_in_flight(server: SandboxServer, new_token: Callable[[], str]) -> None:
    server.state.limits.request_delay = 0.5
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {new_token()}"}) as http:
        answers = await asyncio.gather(*(http.get("/rest/v1/leads/describe.json") for _ in range(13)))
    bodies = [answer.json() for answer in answers]
    assert sum(body["success"] for body in bodies) == 10
    assert {body["errors"][0]["code"] for body in bodies if not body["success"]} == {"615"}
    assert server.state.limits.peak_in_flight == 10


def test_daily_quota_607_until_the_day_is_reset(server: SandboxServer, client: httpx.Client,
                                                new_token: Callable[[], str]) -> None:
    server.state.limits.daily_quota = 3
    for _ in range(3):
        ok(client.get("/rest/v1/leads/describe.json"))
    assert error_code(client.get("/rest/v1/leads/describe.json")) == "607"
    new_token()  # identity still answers, and does not count
    server.state.reset_day()
    assert ok(client.get("/rest/v1/leads/describe.json"))
    assert server.state.limits.calls_today == 1


def test_injected_faults_outage_and_forced_codes(server: SandboxServer, client: httpx.Client) -> None:
    server.state.fail_next(503, times=1)
    assert client.get("/rest/v1/leads/describe.json").status_code == 503
    server.state.fail_with_code("606", times=2)
    assert [error_code(client.get("/rest/v1/leads/describe.json")) for _ in range(2)] == ["606", "606"]
    httpx.post(f"{server.url}/_sandbox/faults", json={"status": 200, "code": "608", "path": "/rest/v1/leads.json"})
    assert error_code(client.get(LEADS, params={"filterType": "id", "filterValues": "1"})) == "608"
    assert ok(client.get("/rest/v1/leads/describe.json"))
    assert len(server.state.limits.calls) == 5 and server.state.limits.calls_today == 1


def test_identity_outage_only_when_aimed_at_identity(server: SandboxServer, client: httpx.Client) -> None:
    server.state.fail_with_code("606")  # no path: meant for API calls, so the token call is spared
    server.state.fail_next(503, path="/identity")
    assert httpx.get(f"{server.url}{IDENTITY}", params=token_params(server)).status_code == 503
    assert httpx.get(f"{server.url}{IDENTITY}", params=token_params(server)).status_code == 200
    assert error_code(client.get("/rest/v1/leads/describe.json")) == "606"
    inside = httpx.get(f"{server.url}/_sandbox").json()
    assert inside["faults"] == [] and inside["limits"]["calls"] == 1 and inside["programs"]["1001"]["members"] == 0


# -- bulk extract ----------------------------------------------------------------------------------

def _window(days: int, end: dt.datetime | None = None) -> dict[str, str]:
    end = end or dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
    return {"startAt": (end - dt.timedelta(days=days)).isoformat(), "endAt": end.isoformat()}


def test_bulk_lead_extract_lifecycle(server: SandboxServer, client: httpx.Client) -> None:
    server.state.seed_leads(3000, spread_days=30)
    server.state.bulk.step_seconds = 3600  # only advance() moves jobs here
    created = ok(client.post("/bulk/v1/leads/export/create.json", json={
        "fields": ["id", "email", "firstName", "title", "updatedAt"], "format": "CSV",
        "filter": {"updatedAt": _window(31)}}))[0]
    export = f"/bulk/v1/leads/export/{created['exportId']}"
    assert created["status"] == "Created"
    assert client.get(f"{export}/file.json").status_code == 404
    assert ok(client.post(f"{export}/enqueue.json"))[0]["status"] == "Queued"
    server.state.bulk.advance()
    assert ok(client.get(f"{export}/status.json"))[0]["status"] == "Processing"
    not_ready = client.get(f"{export}/file.json")
    assert not_ready.status_code == 404 and not_ready.headers["content-type"].startswith("text/plain")
    server.state.bulk.advance()
    status = ok(client.get(f"{export}/status.json"))[0]
    assert status["status"] == "Completed" and status["numberOfRecords"] == 3000
    assert status["fileChecksum"].startswith("sha256:")

    whole = client.get(f"{export}/file.json")
    assert whole.status_code == 200 and len(whole.content) == status["fileSize"]
    rows = list(csv.reader(io.StringIO(whole.text)))
    assert rows[0] == ["id", "email", "firstName", "title", "updatedAt"] and len(rows) == 3001
    assert any(row[3] == "null" for row in rows[1:])
    part = client.get(f"{export}/file.json", headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == whole.content[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{status['fileSize']}"
    tail = client.get(f"{export}/file.json", headers={"Range": "bytes=-20"})
    assert tail.status_code == 206 and tail.content == whole.content[-20:]


def test_bulk_refuses_long_windows_two_filters_and_a_full_queue(server: SandboxServer, client: httpx.Client) -> None:
    server.state.bulk.step_seconds = 3600
    create = "/bulk/v1/leads/export/create.json"
    assert error_code(client.post(create, json={"fields": ["id"], "filter": {"createdAt": _window(32)}})) == "1003"
    assert error_code(client.post(create, json={"fields": ["id"], "filter": {
        "createdAt": _window(5), "updatedAt": _window(5)}})) == "1003"
    ids = [ok(client.post(create, json={"fields": ["id"], "filter": {"createdAt": _window(5)}}))[0]["exportId"]
           for _ in range(11)]
    for export_id in ids[:10]:
        ok(client.post(f"/bulk/v1/leads/export/{export_id}/enqueue.json"))
    full = client.post(f"/bulk/v1/leads/export/{ids[10]}/enqueue.json").json()
    assert full["errors"] == [{"code": "1029", "message": "Too many jobs in queue"}]
    server.state.bulk.advance()
    statuses = [ok(client.get(f"/bulk/v1/leads/export/{i}/status.json"))[0]["status"] for i in ids[:10]]
    assert statuses.count("Processing") == 2 and statuses.count("Queued") == 8
    assert ok(client.post(f"/bulk/v1/leads/export/{ids[9]}/cancel.json"))[0]["status"] == "Cancelled"


def test_bulk_daily_export_quota(server: SandboxServer, client: httpx.Client) -> None:
    server.state.seed_leads(50, spread_days=3)
    server.state.bulk.complete_immediately = True
    server.state.bulk.daily_export_quota = 100
    create = {"fields": ["id", "email"], "filter": {"createdAt": _window(5)}}
    first = ok(client.post("/bulk/v1/leads/export/create.json", json=create))[0]["exportId"]
    assert ok(client.post(f"/bulk/v1/leads/export/{first}/enqueue.json"))[0]["status"] == "Completed"
    second = ok(client.post("/bulk/v1/leads/export/create.json", json=create))[0]["exportId"]
    refused = client.post(f"/bulk/v1/leads/export/{second}/enqueue.json").json()
    assert refused["errors"] == [{"code": "1029", "message": "Export daily quota exceeded"}]
    server.state.reset_day()
    assert ok(client.post(f"/bulk/v1/leads/export/{second}/enqueue.json"))[0]["status"] == "Completed"


def test_bulk_activity_extract_writes_attributes_as_json(server: SandboxServer, client: httpx.Client) -> None:
    server.state.bulk.complete_immediately = True
    ok(client.post(LEADS, json={"input": [{"email": "a@example.com"}]}))
    created = ok(client.post("/bulk/v1/activities/export/create.json", json={
        "filter": {"createdAt": _window(1), "activityTypeIds": [12]}}))[0]
    export = f"/bulk/v1/activities/export/{created['exportId']}"
    ok(client.post(f"{export}/enqueue.json"))
    rows = list(csv.reader(io.StringIO(client.get(f"{export}/file.json").text)))
    assert rows[0][:4] == ["marketoGUID", "leadId", "activityDate", "activityTypeId"] and len(rows) == 2
    assert rows[1][3] == "12" and rows[1][4] == "null" and rows[1][7] == '{"Source Type": "Web service API"}'

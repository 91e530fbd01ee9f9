"""The Outlook provider against its sandbox over loopback HTTP: what an agent and a lead would notice,
beyond chinwag's calendar contract suite (test_outlook_contract.py)."""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from chinwag.calendars import CalendarError, CalendarUnavailable, EventRequest, Grant, GrantRevoked, Interval
from chinwag_outlook.provider import OutlookCalendarProvider
from chinwag.testing import FAST_RETRY_SETTINGS
from chinwag_outlook.sandbox import SandboxServer
from chinwag_outlook.settings import OutlookSettings

AGENT = "agent@example.com"  # the connected agent (see conftest.py)
UTC = dt.timezone.utc
MONDAY = dt.datetime(2030, 3, 4, tzinfo=UTC)


def meeting(key: str = "booking-1", online: bool = False) -> EventRequest:
    """A 30-minute intro call on Monday 09:00 UTC with one lead."""
    return EventRequest(idempotency_key=key, start=MONDAY.replace(hour=9), end=MONDAY.replace(hour=9, minute=30),
                        summary="Intro call with ACME", description="Booked on the website", attendee_email="lead@acme.com",
                        attendee_name="Lena Lead", time_zone="Europe/Berlin", online_meeting=online)


def agent_events(sandbox: SandboxServer) -> dict:
    return sandbox.state.events.get(AGENT, {})


async def test_agent_connects_through_the_sign_in_page(sandbox: SandboxServer, provider: OutlookCalendarProvider) -> None:
    url = provider.authorization_url(None, state="csrf-123", redirect_uri="http://127.0.0.1/callback")
    query = parse_qs(urlparse(url).query)
    assert "offline_access" in query["scope"][0].split()
    async with httpx.AsyncClient() as browser:
        page = await browser.get(url)
        assert page.status_code == 200 and "Accept" in page.text
        form = {"email": AGENT, "decision": "allow", "redirect_uri": query["redirect_uri"][0], "state": "csrf-123"}
        answer = await browser.post(url, data=form)
    assert answer.status_code == 303
    back = parse_qs(urlparse(answer.headers["location"]).query)
    assert back["state"] == ["csrf-123"]

    tokens = await provider.exchange_code(None, back["code"][0], "http://127.0.0.1/callback")
    assert tokens["refresh_token"] and tokens["expires_at"] > time.time() + 3000
    grant = Grant(agent_email=AGENT, calendar_id="me", tokens=tokens)
    assert await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1)) == []


async def test_refresh_saves_the_new_refresh_token(sandbox, provider, grant, saved) -> None:
    first_refresh_token = grant.tokens["refresh_token"]
    grant.tokens["expires_at"] = time.time() - 10
    await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(hours=8))
    assert len(saved) == 1 and saved[0]["refresh_token"] != first_refresh_token
    # The sandbox, like a strict tenant, no longer takes the old one: only the saved one works.
    grant.tokens["expires_at"] = time.time() - 10
    await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(hours=8))
    assert sandbox.state.token_requests == ["refresh_token", "refresh_token"]
    assert saved[1]["refresh_token"] not in (first_refresh_token, saved[0]["refresh_token"])


async def test_busy_lists_blocks_and_booked_events(sandbox, provider, grant) -> None:
    sandbox.state.add_busy(AGENT, MONDAY.replace(hour=13), MONDAY.replace(hour=14))
    await provider.create_event(None, grant, meeting())
    busy = await provider.busy(None, grant, MONDAY.replace(hour=8), MONDAY.replace(hour=18))
    assert busy == [Interval(MONDAY.replace(hour=9), MONDAY.replace(hour=9, minute=30)),
                    Interval(MONDAY.replace(hour=13), MONDAY.replace(hour=14))]
    assert await provider.busy(None, grant, MONDAY.replace(hour=10), MONDAY.replace(hour=12)) == []


async def test_busy_over_a_long_horizon_is_asked_in_pieces(sandbox, provider, grant) -> None:
    far = MONDAY + dt.timedelta(days=80)
    sandbox.state.add_busy(AGENT, far, far + dt.timedelta(hours=1))
    busy = await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=100))
    assert busy == [Interval(far, far + dt.timedelta(hours=1))]


async def test_busy_of_an_unknown_mailbox_is_an_error(provider, grant) -> None:
    grant.agent_email = "nobody@elsewhere.com"
    with pytest.raises(CalendarError, match="ErrorMailRecipientNotFound"):
        await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1))


async def test_create_invites_the_lead(sandbox, provider, grant) -> None:
    created = await provider.create_event(None, grant, meeting())
    event = agent_events(sandbox)[created.remote_id]
    assert created.join_url is None and event["transactionId"] == "booking-1"
    assert event["subject"] == "Intro call with ACME"
    assert event["start"] == {"dateTime": "2030-03-04T09:00:00.0000000", "timeZone": "UTC"}
    assert event["attendees"][0]["emailAddress"] == {"address": "lead@acme.com", "name": "Lena Lead"}
    [invitation] = sandbox.state.notifications
    assert invitation["kind"] == "invitation" and invitation["to"] == ["lead@acme.com"]


async def test_a_lost_reply_does_not_create_a_second_event(sandbox, provider, grant) -> None:
    # Graph creates the event but the answer is a 503: the retry carries the same transactionId.
    sandbox.state.fail_next(503, path="/events", method="POST", after_processing=True)
    created = await provider.create_event(None, grant, meeting())
    assert list(agent_events(sandbox)) == [created.remote_id]
    assert len(sandbox.state.notifications) == 1


async def test_online_meeting_gets_a_teams_link(sandbox, provider, grant) -> None:
    created = await provider.create_event(None, grant, meeting(online=True))
    event = agent_events(sandbox)[created.remote_id]
    assert event["onlineMeetingProvider"] == "teamsForBusiness"
    assert created.join_url == event["onlineMeeting"]["joinUrl"]
    assert created.join_url.startswith("https://teams.microsoft.com/l/meetup-join/")


async def test_cancel_notifies_and_frees_the_time(sandbox, provider, grant) -> None:
    created = await provider.create_event(None, grant, meeting())
    await provider.cancel_event(None, grant, created.remote_id)
    assert agent_events(sandbox)[created.remote_id]["isCancelled"] is True
    assert sandbox.state.notifications[-1]["kind"] == "cancellation"
    await provider.cancel_event(None, grant, created.remote_id)  # already gone (404): nothing to do
    assert await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1)) == []


async def test_move_reschedules_and_notifies(sandbox, provider, grant) -> None:
    created = await provider.create_event(None, grant, meeting())
    await provider.move_event(None, grant, created.remote_id, MONDAY.replace(hour=14), MONDAY.replace(hour=14, minute=30))
    event = agent_events(sandbox)[created.remote_id]
    assert event["start"] == {"dateTime": "2030-03-04T14:00:00.0000000", "timeZone": "UTC"}
    update = sandbox.state.notifications[-1]
    assert update["kind"] == "update" and update["to"] == ["lead@acme.com"]
    busy = await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1))
    assert busy == [Interval(MONDAY.replace(hour=14), MONDAY.replace(hour=14, minute=30))]


async def test_moving_a_cancelled_event_fails(provider, grant) -> None:
    created = await provider.create_event(None, grant, meeting())
    await provider.cancel_event(None, grant, created.remote_id)
    with pytest.raises(CalendarError, match="ErrorItemNotFound"):
        await provider.move_event(None, grant, created.remote_id, MONDAY, MONDAY + dt.timedelta(minutes=30))


# 429 and 503 are retried in the contract suite (test_outlook_contract.py); these are the other 5xx.
@pytest.mark.parametrize("status", [500, 504])
async def test_throttling_and_outages_are_retried(sandbox, provider, grant, status) -> None:
    sandbox.state.fail_next(status, times=2)
    created = await provider.create_event(None, grant, meeting())
    assert created.remote_id in agent_events(sandbox)


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(sandbox, provider, grant, status) -> None:
    sandbox.state.fail_next(status, retry_after="0.3", path="/getSchedule")
    started = time.monotonic()
    await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1))
    assert time.monotonic() - started >= 0.3


async def test_a_retry_after_longer_than_allowed_gives_up_at_once(sandbox, provider, grant) -> None:
    sandbox.state.fail_next(429, retry_after="600", times=5)
    started = time.monotonic()
    with pytest.raises(CalendarUnavailable):
        await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1))
    assert time.monotonic() - started < 5


async def test_persistent_outage_is_calendar_unavailable(sandbox, provider, grant) -> None:
    fault = sandbox.state.fail_next(503, times=100)
    with pytest.raises(CalendarUnavailable):
        await provider.create_event(None, grant, meeting())
    assert fault.remaining == 100 - 4  # the first try and three retries


async def test_a_token_rejected_even_after_refresh_means_reconnect(sandbox, provider, grant) -> None:
    sandbox.state.fail_next(401, times=2, path="/events")
    with pytest.raises(GrantRevoked):
        await provider.create_event(None, grant, meeting())
    assert sandbox.state.token_requests == ["refresh_token"]


@pytest.mark.parametrize("error", ["invalid_grant", "expired", "interaction_required", "consent_required"])
async def test_revoked_consent_means_the_agent_must_reconnect(sandbox, provider, grant, error) -> None:
    sandbox.state.revoke(user=AGENT, error=error)
    with pytest.raises(GrantRevoked):
        await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1))


async def test_custom_sign_in_urls_get_the_tenant_filled_in(sandbox, grant, saved) -> None:
    sandbox.state.tenants.add("contoso.onmicrosoft.com")
    settings = OutlookSettings.from_config({
        **sandbox.plugin_config(), **FAST_RETRY_SETTINGS, "tenant": "contoso.onmicrosoft.com",
        "token_url": sandbox.url + "/{tenant}/oauth2/v2.0/token", "auth_url": sandbox.url + "/{tenant}/oauth2/v2.0/authorize"})
    provider = OutlookCalendarProvider(settings)
    try:
        async with httpx.AsyncClient() as browser:
            page = await browser.get(provider.authorization_url(None, "state-1", "http://127.0.0.1/callback"))
        assert page.status_code == 200 and "Accept" in page.text  # the tenant's sign-in page, not "tenant not found"
        grant.tokens["expires_at"] = time.time() - 10
        assert await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(hours=8)) == []
        assert len(saved) == 1  # refreshed at the tenant's token endpoint
    finally:
        await provider.aclose()


async def test_an_event_is_found_by_its_key_across_pages(sandbox, provider, grant) -> None:
    wanted = await provider.create_event(None, grant, meeting("booking-wanted"))
    for number in range(60):  # the agent's own busy morning, more than one page of the calendar view
        sandbox.state.create_event(AGENT, {"subject": f"Call {number}", "start": {"dateTime": "2030-03-04T08:00:00", "timeZone": "UTC"},
                                           "end": {"dateTime": "2030-03-04T12:00:00", "timeZone": "UTC"}})
    start, end = MONDAY.replace(hour=9), MONDAY.replace(hour=9, minute=30)
    assert await provider.find_event(None, grant, "booking-wanted", start, end) == wanted.remote_id
    assert await provider.find_event(None, grant, "booking-never-made", start, end) is None
    await provider.cancel_event(None, grant, wanted.remote_id)
    assert await provider.find_event(None, grant, "booking-wanted", start, end) is None

"""The Google provider against its sandbox over loopback HTTP: what an agent and a lead would notice,
beyond chinwag's calendar contract suite (test_google_contract.py)."""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import parse_qs, urlparse

import attrs
import httpx
import pytest
from chinwag.calendars import CalendarError, CalendarUnavailable, EventRequest, Grant, GrantRevoked, Interval
from chinwag_google_calendar.provider import GoogleCalendarProvider, google_event_id
from chinwag_google_calendar.sandbox import SandboxServer

AGENT = "agent@example.com"  # the connected agent (see conftest.py)
UTC = dt.timezone.utc
MONDAY = dt.datetime(2030, 3, 4, tzinfo=UTC)


def meeting(key: str = "booking-1", online: bool = False) -> EventRequest:
    """A 30-minute intro call on Monday 10:00 Berlin time (09:00 UTC) with one lead."""
    return EventRequest(idempotency_key=key, start=MONDAY.replace(hour=9), end=MONDAY.replace(hour=9, minute=30),
                        summary="Intro call with ACME", description="Booked on the website", attendee_email="lead@acme.com",
                        attendee_name="Lena Lead", time_zone="Europe/Berlin", online_meeting=online)


def agent_events(sandbox: SandboxServer) -> dict:
    return sandbox.state.events.get(AGENT, {})


async def test_agent_connects_through_the_consent_page(sandbox: SandboxServer, provider: GoogleCalendarProvider) -> None:
    url = provider.authorization_url(None, state="csrf-123", redirect_uri="http://127.0.0.1/callback")
    query = parse_qs(urlparse(url).query)
    assert query["access_type"] == ["offline"] and query["state"] == ["csrf-123"]
    async with httpx.AsyncClient() as browser:
        page = await browser.get(url)
        assert page.status_code == 200 and "Allow" in page.text
        form = {"email": AGENT, "decision": "allow", "redirect_uri": query["redirect_uri"][0], "state": "csrf-123"}
        answer = await browser.post(url, data=form)
    assert answer.status_code == 303
    back = parse_qs(urlparse(answer.headers["location"]).query)
    assert back["state"] == ["csrf-123"]

    tokens = await provider.exchange_code(None, back["code"][0], "http://127.0.0.1/callback")
    assert tokens["refresh_token"] and tokens["expires_at"] > time.time() + 3000
    grant = Grant(agent_email=AGENT, calendar_id="primary", tokens=tokens)
    assert await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1)) == []


async def test_a_used_code_cannot_be_exchanged_again(sandbox: SandboxServer, provider: GoogleCalendarProvider) -> None:
    code = sandbox.state.issue_code(AGENT, "http://127.0.0.1/callback")
    await provider.exchange_code(None, code, "http://127.0.0.1/callback")
    with pytest.raises(GrantRevoked):
        await provider.exchange_code(None, code, "http://127.0.0.1/callback")


async def test_expired_access_token_is_refreshed_and_saved(sandbox, provider, grant, saved) -> None:
    old_access, refresh_token = grant.tokens["access_token"], grant.tokens["refresh_token"]
    grant.tokens["expires_at"] = time.time() - 10
    await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(hours=8))
    assert sandbox.state.token_requests == ["refresh_token"]
    assert len(saved) == 1 and saved[0]["access_token"] != old_access
    assert saved[0]["refresh_token"] == refresh_token  # Google sends none back: the old one stays
    assert saved[0]["expires_at"] > time.time() + 3000


async def test_busy_lists_blocks_and_booked_events(sandbox, provider, grant) -> None:
    sandbox.state.add_busy(AGENT, MONDAY.replace(hour=13), MONDAY.replace(hour=14))
    await provider.create_event(None, grant, meeting())
    busy = await provider.busy(None, grant, MONDAY.replace(hour=8), MONDAY.replace(hour=18))
    assert busy == [Interval(MONDAY.replace(hour=9), MONDAY.replace(hour=9, minute=30)),
                    Interval(MONDAY.replace(hour=13), MONDAY.replace(hour=14))]
    assert await provider.busy(None, grant, MONDAY.replace(hour=10), MONDAY.replace(hour=12)) == []


async def test_busy_over_a_long_horizon_is_asked_in_pieces(sandbox, provider, grant) -> None:
    far = MONDAY + dt.timedelta(days=80)
    sandbox.state.add_busy(AGENT, MONDAY.replace(hour=9), MONDAY.replace(hour=10))
    sandbox.state.add_busy(AGENT, far, far + dt.timedelta(hours=1))
    busy = await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=100))
    assert [interval.start for interval in busy] == [MONDAY.replace(hour=9), far]


async def test_create_invites_the_lead(sandbox, provider, grant) -> None:
    created = await provider.create_event(None, grant, meeting())
    assert created.remote_id == google_event_id("booking-1") and created.join_url is None
    event = agent_events(sandbox)[created.remote_id]
    assert event["summary"] == "Intro call with ACME"
    assert event["start"] == {"dateTime": "2030-03-04T10:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert {"email": "lead@acme.com", "displayName": "Lena Lead", "responseStatus": "needsAction"} in event["attendees"]
    [invitation] = sandbox.state.notifications
    assert invitation["kind"] == "invitation" and invitation["to"] == ["lead@acme.com"]
    assert invitation["send_updates"] == "all"


async def test_visitor_text_in_the_description_is_escaped_for_html(sandbox, provider, grant) -> None:
    # Google reads an event's description as HTML: a visitor's markup must arrive as text.
    request = attrs.evolve(meeting(), description="Hi <img src=x onerror=alert(1)>Ada & co\nSee you")
    created = await provider.create_event(None, grant, request)
    event = agent_events(sandbox)[created.remote_id]
    assert event["description"] == "Hi &lt;img src=x onerror=alert(1)&gt;Ada &amp; co<br>See you"


async def test_a_lost_reply_does_not_create_a_second_event(sandbox, provider, grant) -> None:
    # Google creates the event, but its answer is a 503: the retry meets 409 duplicate.
    sandbox.state.fail_next(503, path="/events", method="POST", after_processing=True)
    created = await provider.create_event(None, grant, meeting())
    assert list(agent_events(sandbox)) == [created.remote_id]
    assert len(sandbox.state.notifications) == 1


async def test_online_meeting_gets_a_meet_link(sandbox, provider, grant) -> None:
    created = await provider.create_event(None, grant, meeting(online=True))
    event = agent_events(sandbox)[created.remote_id]
    assert created.join_url == event["hangoutLink"]
    assert created.join_url.startswith("https://meet.google.com/")


async def test_a_meet_link_still_being_created_is_waited_for(sandbox, provider, grant) -> None:
    sandbox.state.conference_pending = True
    created = await provider.create_event(None, grant, meeting(online=True))
    assert created.join_url and created.join_url.startswith("https://meet.google.com/")


async def test_cancel_deletes_and_notifies(sandbox, provider, grant) -> None:
    created = await provider.create_event(None, grant, meeting())
    await provider.cancel_event(None, grant, created.remote_id)
    assert agent_events(sandbox)[created.remote_id]["status"] == "cancelled"
    assert sandbox.state.notifications[-1]["kind"] == "cancellation"
    await provider.cancel_event(None, grant, created.remote_id)  # already cancelled (410): nothing to do
    assert await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1)) == []


async def test_cancelling_an_unknown_event_fails(provider, grant) -> None:
    with pytest.raises(CalendarError, match="404"):
        await provider.cancel_event(None, grant, "nosuchevent1")


async def test_move_reschedules_and_notifies(sandbox, provider, grant) -> None:
    created = await provider.create_event(None, grant, meeting())
    await provider.move_event(None, grant, created.remote_id, MONDAY.replace(hour=14), MONDAY.replace(hour=14, minute=30))
    event = agent_events(sandbox)[created.remote_id]
    assert event["start"] == {"dateTime": "2030-03-04T14:00:00Z", "timeZone": "Europe/Berlin"}
    assert event["sequence"] == 1
    update = sandbox.state.notifications[-1]
    assert update["kind"] == "update" and update["to"] == ["lead@acme.com"]
    busy = await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1))
    assert busy == [Interval(MONDAY.replace(hour=14), MONDAY.replace(hour=14, minute=30))]


# 429 and 503 are retried in the contract suite (test_google_contract.py); these are Google's own.
@pytest.mark.parametrize("status, reason", [(500, None), (403, "rateLimitExceeded"), (403, "userRateLimitExceeded")])
async def test_transient_errors_are_retried(sandbox, provider, grant, status, reason) -> None:
    sandbox.state.fail_next(status, times=2, reason=reason)
    created = await provider.create_event(None, grant, meeting())
    assert created.remote_id in agent_events(sandbox)


async def test_retry_after_is_honoured(sandbox, provider, grant) -> None:
    sandbox.state.fail_next(429, retry_after="0.3", path="/freeBusy")
    started = time.monotonic()
    await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1))
    assert time.monotonic() - started >= 0.3


async def test_quota_exceeded_is_not_hot_retried(sandbox, provider, grant) -> None:
    fault = sandbox.state.fail_next(403, times=5, reason="quotaExceeded")
    with pytest.raises(CalendarError, match="quotaExceeded") as raised:
        await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1))
    assert not isinstance(raised.value, CalendarUnavailable)
    assert fault.remaining == 4


async def test_persistent_outage_is_calendar_unavailable(sandbox, provider, grant) -> None:
    fault = sandbox.state.fail_next(503, times=100)
    with pytest.raises(CalendarUnavailable):
        await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1))
    assert fault.remaining == 100 - 4  # the first try and three retries


async def test_token_endpoint_outage_is_calendar_unavailable(sandbox, provider, grant) -> None:
    grant.tokens["expires_at"] = 0
    sandbox.state.fail_next(503, times=100, path="/token")
    with pytest.raises(CalendarUnavailable):
        await provider.busy(None, grant, MONDAY, MONDAY + dt.timedelta(days=1))

"""The Prometheus metrics: behind the admin token at /-/metrics, or on an address of their own;
what a chat, a booking, a CRM outage and a bad frame show there."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerProcess, ServerThread, free_port, write_project
from crm_support import chat, crm_project, remote  # noqa: F401

TOKEN = "metrics-admin-token-0123456789"
CRM_TOKEN = "a-test-admin-token-0123456789"  # crm_project's


def read(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, by name and labels."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """One sample's value (0 when it is not there)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(url: str, token: str = TOKEN) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(f"{url}/-/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return read(response.text)


async def eventually(check: Any, timeout: float = 30) -> None:
    """Wait until ``check()`` is true (a background delivery or a closed socket being counted)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the metrics never showed it"
        await asyncio.sleep(0.2)


async def test_a_chat_and_a_booking_as_the_metrics_tell_them(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "demo", {"response_delay": 0}, copy_from=QUICKSTART)
    metrics_port = free_port()
    # CHINWAG_DEMO_CHATS=0: the console's demo plays no chats of its own, so the metrics count ours alone.
    with ServerProcess(folder, env={"CHINWAG_ADMIN_TOKEN": TOKEN, "CHINWAG_DEMO_CHATS": "0"},
                       log_path=tmp_path / "server.log",
                       args=("--demo", "--metrics-address", f"127.0.0.1:{metrics_port}")) as server:
        assert httpx.get(f"{server.url}/-/metrics").status_code == 401
        assert httpx.get(f"{server.url}/-/metrics", headers={"Authorization": "Bearer not-the-token-at-all"}).status_code == 401
        async with ScriptedVisitor(server) as visitor:
            await visitor.connect()
            first = await visitor.question()
            assert value(scrape(server.url), "chinwag_connected_visitors") == 1
            await visitor.send("this is not JSON")
            refused = await visitor.until("error")
            await visitor.answer("meeting", first["id"])
            for reply in ("Ada", "ada@client.example", "11-50"):
                await visitor.question()
                await visitor.answer(reply)
            await visitor.answer((await visitor.question(timeout=30))["input"]["slots"][0]["id"])
            assert (await visitor.until("message", timeout=30))["text"].startswith("You're booked with ")
        samples = scrape(server.url)
        assert value(samples, "chinwag_turns_total", frame="hello") == 1
        assert value(samples, "chinwag_turns_total", frame="answer") == 5
        assert value(samples, "chinwag_turns_total", frame="bad_frame") == 1
        assert value(samples, "chinwag_turn_seconds_count", frame="answer") == 5
        assert value(samples, "chinwag_turn_seconds_bucket", frame="answer", le="+Inf") == 5
        assert value(samples, "chinwag_error_frames_total", code=refused["code"]) == 1
        # Every stored turn went through a group commit: the new session and the five answers.
        assert value(samples, "chinwag_turn_batch_size_sum") >= 6
        assert value(samples, "chinwag_turn_batch_size_count") >= 1
        calendar = {(dict(labels)["provider"], dict(labels)["operation"], dict(labels)["outcome"]): count
                    for (name, labels), count in samples.items() if name == "chinwag_calendar_calls_total"}
        assert sum(count for (_, operation, outcome), count in calendar.items()
                   if operation == "create_event" and outcome == "ok") == 1
        assert sum(count for (_, operation, outcome), count in calendar.items() if operation == "busy" and outcome == "ok") >= 2
        assert value(samples, "chinwag_crm_calls_total", connector="marketo", operation="find_lead", outcome="ok") >= 1
        assert ("chinwag_outbox_pending", frozenset({("consumer", "marketo")})) in samples

        def delivered() -> bool:
            now = scrape(server.url)
            return (value(now, "chinwag_outbox_batches_total", consumer="marketo", outcome="delivered") >= 1
                    and value(now, "chinwag_crm_calls_total", connector="marketo", operation="upsert_leads",
                              outcome="ok") >= 1)

        await eventually(delivered)
        await eventually(lambda: value(scrape(server.url), "chinwag_connected_visitors") == 0)
        own = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30)  # no token: a private address
        assert own.status_code == 200 and value(read(own.text), "chinwag_turns_total", frame="answer") == 5
        assert value(read(own.text), "process_resident_memory_bytes") > 0


async def test_a_crm_outage_shows_as_failed_calls_and_a_growing_backlog(tmp_path: Path, remote: Any) -> None:
    remote.state.down = True
    with ServerThread(crm_project(tmp_path / "p", remote), demo=False) as server:
        await chat(server, "Ada", "ada@example.com")

        def failing() -> bool:
            now = scrape(server.url, CRM_TOKEN)
            return (value(now, "chinwag_crm_calls_total", connector="loopback-crm", operation="upsert_leads",
                          outcome="retry_later") >= 1
                    and value(now, "chinwag_outbox_consecutive_failures", consumer="loopback-crm") >= 1)

        await eventually(failing)
        samples = scrape(server.url, CRM_TOKEN)
        assert value(samples, "chinwag_outbox_pending", consumer="loopback-crm") >= 4  # its events, all waiting
        assert value(samples, "chinwag_outbox_oldest_pending_seconds", consumer="loopback-crm") > 0
        assert value(samples, "chinwag_outbox_batches_total", consumer="loopback-crm", outcome="failed") >= 1
        remote.state.down = False
        await eventually(lambda: value(scrape(server.url, CRM_TOKEN), "chinwag_outbox_pending", consumer="loopback-crm") == 0)
        samples = scrape(server.url, CRM_TOKEN)
        assert value(samples, "chinwag_outbox_consecutive_failures", consumer="loopback-crm") == 0
        assert value(samples, "chinwag_outbox_oldest_pending_seconds", consumer="loopback-crm") == 0


def test_the_metrics_are_closed_without_an_admin_token(chinwag_server: ServerThread) -> None:
    response = httpx.get(f"{chinwag_server.url}/-/metrics", headers={"Authorization": "Bearer anything-at-all"})
    assert response.status_code == 403 and "admin_token" in response.json()["error"]

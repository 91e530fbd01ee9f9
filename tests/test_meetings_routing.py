"""Who gets the meeting: strict rotation, weights, fewest meetings, account routing, rules, revoked grants."""

from __future__ import annotations

import json
from pathlib import Path

from meetings_support import (  # noqa: F401  (fixtures)
    agent, book, cli, connect_agent, free_port, google, meetings_rows, project, secret_key, serve, to_slots,
)

FIVE = [f"agent{n}@example.com" for n in range(1, 6)]


async def booked_agents(server, count: int, spread: bool = False, **options) -> list[str]:
    """``count`` visitors book one after the other, each the first time offered (with ``spread``,
    each a different time nobody took yet: the last offered, then the one before...); who got each."""
    for number in range(count):
        visitor, reply = await book(server, f"visitor{number}@client.com", slot=-(number + 1) if spread else 0, **options)
        assert reply["text"].startswith("You're booked"), reply
        await visitor.close()
    return [row["agent_email"] for row in meetings_rows(server)][-count:]


async def test_strict_rotation_wraps_and_follows_the_queue_order(tmp_path: Path, google) -> None:
    port = free_port()
    folder = project(tmp_path / "p", port, [agent(email) for email in FIVE], google=google)
    with serve(folder, port) as server:
        for email in FIVE:
            await connect_agent(folder, email)
        listing = (await cli(folder, "agents", "list")).output.splitlines()
        assert [line.split()[1] for line in listing] == FIVE and all(line.endswith("connected") for line in listing)
        assert await booked_agents(server, 7) == [*FIVE, *FIVE[:2]]
        # Agent 2 took the last meeting; the new order 3, 2, 4, 1, 5 puts 4 next. The first time
        # offered now has only 3, 4 and 5 free, so after 4 comes 5 (1 is busy then), then 3.
        await cli(folder, "agents", "order", FIVE[2], FIVE[1], FIVE[3], FIVE[0], FIVE[4])
        assert await booked_agents(server, 3) == [FIVE[3], FIVE[4], FIVE[2]]


async def test_weighted_shares_follow_the_weights(tmp_path: Path, google) -> None:
    port = free_port()
    agents = [agent("heavy@example.com", weight=2), agent("light@example.com")]
    folder = project(tmp_path / "p", port, agents, google=google, strategy="weighted")
    with serve(folder, port) as server:
        for email in ("heavy@example.com", "light@example.com"):
            await connect_agent(folder, email)
        taken = await booked_agents(server, 6, spread=True)
    assert taken.count("heavy@example.com") == 4 and taken.count("light@example.com") == 2


async def test_fewest_meetings_this_period_goes_first(tmp_path: Path, google) -> None:
    port = free_port()
    emails = ["a@example.com", "b@example.com", "c@example.com"]
    folder = project(tmp_path / "p", port, [agent(email) for email in emails], google=google, strategy="fewest_meetings",
                     meetings={"account_routing": "accounts.csv"})
    (folder / "accounts.csv").write_text("company,domain,agent\nBusy Corp,busy.com,a@example.com\n")
    with serve(folder, port) as server:
        for email in emails:
            await connect_agent(folder, email)
        for number in range(2):  # account routing gives a@ two meetings first
            visitor, reply = await book(server, f"buyer{number}@busy.com")
            assert "with A " in reply["text"]
            await visitor.close()
        assert await booked_agents(server, 4) == ["b@example.com", "c@example.com", "b@example.com", "c@example.com"]
        rows = meetings_rows(server)
    assert [row["queue"] for row in rows[:2]] == ["account:a@example.com"] * 2


async def test_custom_rules_route_to_an_agent_or_a_team(tmp_path: Path, google) -> None:
    port = free_port()
    emails = ["ada@example.com", "bob@example.com", "cy@example.com"]
    rules = [{"name": "pricing", "if": {"attribute": "lead.interest", "op": "is", "value": "pricing"}, "agent": "bob@example.com"},
             {"name": "big", "if": {"attribute": "lead.email", "op": "ends_with", "value": "@big.com"}, "team": "enterprise"}]
    folder = project(tmp_path / "p", port, [agent(email) for email in emails], google=google, route="rules",
                     meetings={"rules": rules, "teams": {"enterprise": ["cy@example.com"]}})
    with serve(folder, port) as server:
        for email in emails:
            await connect_agent(folder, email)
        for email, interest in (("x@small.com", "pricing"), ("y@big.com", "demo"), ("z@small.com", "demo")):
            visitor, reply = await book(server, email, interest=interest)
            await visitor.close()
        rows = meetings_rows(server)
    assert [(row["lead_email"], row["agent_email"], row["queue"]) for row in rows] == [
        ("x@small.com", "bob@example.com", "rule:pricing"),
        ("y@big.com", "cy@example.com", "rule:big"),
        ("z@small.com", "ada@example.com", "all agents"),
    ]


async def test_a_revoked_grant_takes_the_agent_out_and_the_chat_goes_on(tmp_path: Path, google) -> None:
    port = free_port()
    emails = ["ada@example.com", "bob@example.com"]
    folder = project(tmp_path / "p", port, [agent(email) for email in emails], google=google,
                     meetings={"fallback": "Nobody is free; we'll email you."})
    with serve(folder, port) as server:
        for email in emails:
            await connect_agent(folder, email)
        google.state.revoke(user="ada@example.com")
        visitor, reply = await book(server, "one@client.com")
        assert reply["text"].startswith("You're booked with Bob")
        await visitor.close()
        agents = json.loads((await cli(folder, "agents", "list", "--json")).output)
        assert [(a["email"], a["status"]) for a in agents] == [("ada@example.com", "needs_reconnect"), ("bob@example.com", "connected")]
        assert "must reconnect" in agents[0]["reason"]
        assert "needs reconnect" in (await cli(folder, "agents", "list")).output
        google.state.revoke(user="bob@example.com")
        visitor, told = await to_slots(server, "two@client.com")
        assert told["type"] == "message" and told["text"] == "Nobody is free; we'll email you."
        assert (await visitor.until("message"))["text"] == "Bye!"
        await visitor.close()
        await connect_agent(folder, "ada@example.com")  # reconnecting puts her back in the queue
        visitor, reply = await book(server, "three@client.com")
        assert reply["text"].startswith("You're booked with Ada")
        await visitor.close()

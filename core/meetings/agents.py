"""Agents and meeting settings from chinwag.yaml (``agents:`` and ``meetings:``), checked and typed.

    agents:
      - email: ada@example.com
        name: Ada Lovelace
        time_zone: Europe/London
        provider: google            # a registered calendar provider
        calendar: primary           # the provider's calendar id (default: the agent's own)
        calendar_owner: team@example.com  # who consents, when not the agent (a shared calendar)
        availability: {monday: ["09:00-12:00", "13:00-17:00"], friday: ["09:00-12:00"]}
        duration: 30                # minutes; buffer_after, minimum_notice too
        buffer_after: 10
        minimum_notice: 60
        horizon_days: 14
        weight: 2                   # for the ``weighted`` routing strategy
        invitation_template: invitations/ada.txt

The ``meetings:`` section (teams, rules, account routing, fallback, invitation) is read by
``chinwag.meetings.routing`` and documented in docs/meetings.md.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ..problems import Problem
from ..scheduling import AgentAvailability, WeeklyBlock
from ..time_zones import known_time_zone
from ..yamlfile import line_of

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
BLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
AGENT_KEYS = {"email", "name", "time_zone", "provider", "calendar", "calendar_owner", "availability", "duration",
              "buffer_after", "minimum_notice", "horizon_days", "slot_step", "weight", "invitation_template"}
MINUTE_LIMITS = {"duration": (5, 480), "buffer_after": (0, 240), "minimum_notice": (0, 60 * 24 * 30),
                 "horizon_days": (0, 365), "slot_step": (5, 480), "weight": (1, 100)}
SCHEDULE_NUMBERS = ("duration", "buffer_after", "minimum_notice", "horizon_days", "slot_step")


@attrs.frozen
class Agent:
    """A sales agent who takes meetings: who they are, when they are free, which calendar."""

    email: str
    name: str
    provider: str
    calendar_id: str
    availability: AgentAvailability
    weight: int = 1
    invitation_template: str | None = None
    owner: str | None = None  # ``calendar_owner``: the account that consents, when not the agent's own

    @property
    def calendar_owner(self) -> str:
        """The account whose consent connects this agent's calendar: the agent's own unless set."""
        return self.owner or self.email

    @property
    def time_zone(self) -> str:
        """The agent's IANA zone."""
        return self.availability.time_zone


def parse_agents(raw: Any, source: Any, file: str, providers: Any) -> tuple[dict[str, Agent], list[Problem]]:
    """Agents by email, in the order written (the initial round-robin order), and the problems.

    ``raw`` is the ``agents:`` list with ``$env`` resolved; ``source`` the same list as read from
    YAML (it knows the lines); ``providers`` the calendar provider registry.
    """
    problems: list[Problem] = []
    agents: dict[str, Agent] = {}
    if raw is None:
        return agents, problems
    if not isinstance(raw, list):
        return agents, [Problem(file, line_of(source, 0), "agents", "must be a list of agents")]
    for index, item in enumerate(raw):
        where = f"agents[{index}]"
        node = source[index] if isinstance(source, list) and index < len(source) else None

        def problem(key: str, message: str) -> None:
            problems.append(Problem(file, line_of(node, key) if node is not None else line_of(source, index),
                                    f"{where}.{key}" if key else where, message))

        if not isinstance(item, Mapping):
            problem("", "each agent must be a mapping with email, name, time_zone, provider and availability")
            continue
        for key in sorted(set(item) - AGENT_KEYS, key=str):
            problem(key, f"unknown setting (known: {', '.join(sorted(AGENT_KEYS))})")
        email = item.get("email")
        if not isinstance(email, str) or not EMAIL.match(email):
            problem("email", "is required: the agent's email address")
            continue
        email = email.lower()
        if email in agents:
            problem("email", f"{email} is listed twice")
        provider = item.get("provider")
        if not isinstance(provider, str) or providers.get(provider) is None:
            known = ", ".join(providers.names()) or "none installed"
            problem("provider", f"must name a calendar provider plugin (installed: {known})")
        weight = _whole_number(item, "weight", problem)
        availability = read_availability(item, problem)
        owner = item.get("calendar_owner")
        if owner is not None and (not isinstance(owner, str) or not EMAIL.match(owner)):
            problem("calendar_owner", "must be the email address of the account that shares this calendar with the agent")
            owner = None
        template = item.get("invitation_template")
        if template is not None and not isinstance(template, str):
            problem("invitation_template", "must be a template file name under the project's templates/")
        if availability is None or not isinstance(provider, str):
            continue
        agents[email] = Agent(
            email=email, name=str(item.get("name") or email), provider=provider,
            calendar_id=str(item.get("calendar") or _own_calendar(provider)), availability=availability,
            weight=weight or 1, invitation_template=template, owner=owner.lower() if owner else None,
        )
    return agents, problems


def read_availability(item: Mapping[str, Any], problem: Callable[[str, str], None]) -> AgentAvailability | None:
    """An agent's schedule from ``time_zone``, ``availability``, ``duration``, ``buffer_after``,
    ``minimum_notice``, ``horizon_days`` and ``slot_step`` (chinwag.yaml's keys, also those a
    schedule saved from the console has). Each problem is reported by key; a wrong number is left
    out (the project is refused anyway), a wrong zone or week gives None."""
    zone = item.get("time_zone", "UTC")
    if known_time_zone(zone) is None:  # looked up in the zone list, never opened as a path ("Europe")
        problem("time_zone", f"unknown time zone {zone!r} (use an IANA name such as Europe/Berlin)")
    numbers = {key: _whole_number(item, key, problem) for key in SCHEDULE_NUMBERS}
    blocks = _blocks(item.get("availability"), problem)
    if blocks is None or known_time_zone(zone) is None:
        return None
    return AgentAvailability(time_zone=str(zone), blocks=blocks,
                             **{key: value for key, value in numbers.items() if value is not None})


def _whole_number(item: Mapping[str, Any], key: str, problem: Callable[[str, str], None]) -> int | None:
    """``item[key]`` when it is a whole number within ``MINUTE_LIMITS``; None when absent or wrong."""
    value, (smallest, largest) = item.get(key), MINUTE_LIMITS[key]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not smallest <= value <= largest:
        problem(key, f"must be a whole number from {smallest} to {largest}")
        return None
    return value


def _own_calendar(provider: str) -> str:
    """The id meaning "the connected account's own calendar" for the built-in providers."""
    return "primary" if provider == "google" else "me"


def _blocks(value: Any, problem: Any) -> tuple[WeeklyBlock, ...] | None:
    """Weekly blocks from ``{weekday: ["HH:MM-HH:MM", ...]}``; None (after reporting) when wrong."""
    if not isinstance(value, Mapping) or not value:
        problem("availability", 'is required: e.g. {monday: ["09:00-12:00", "13:00-17:00"]}')
        return None
    blocks = []
    for day, spans in value.items():
        if str(day).lower() not in WEEKDAYS:
            problem("availability", f"unknown weekday {day!r} (monday ... sunday)")
            return None
        for span in spans if isinstance(spans, list) else [spans]:
            match = BLOCK.match(str(span))
            try:
                if not match:
                    raise ValueError("not HH:MM-HH:MM")
                start = dt.time(int(match[1]), int(match[2]))
                end = dt.time(0) if match.group(3, 4) == ("24", "00") else dt.time(int(match[3]), int(match[4]))
                blocks.append(WeeklyBlock(WEEKDAYS.index(str(day).lower()), start, end))
            except ValueError as error:
                problem("availability", f"{day}: {span!r} is not a block like 09:00-12:00 ({error})")
                return None
    return tuple(blocks)

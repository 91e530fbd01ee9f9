"""The ``meetings:`` section of chinwag.yaml, with the agents, as one checked settings object.

    meetings:
      fallback: Sorry, nobody can take a meeting right now. We'll email you.   # or {en: ..., es: ...}
      invitation_template: invitation.txt      # under templates/ (a built-in default exists)
      summary: "{{ company.name or lead.firstName }} and {{ agent.name }}"
      online_meeting: true                     # add a Google Meet / Teams link
      teams: {emea: [ada@example.com, grace@example.com]}
      account_routing: accounts.csv            # company,domain,agent; checked before anything else
      rules:
        - name: west coast
          if: {attribute: lead.state, op: in, value: [CA, OR, WA]}
          team: emea                           # or agent: someone@example.com
      period: month                            # what "fewest meetings this period" counts
      reconcile_every: 300                     # seconds between sweeps for events with no meeting
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .. import conditions
from ..languages.locales import normalise
from .agents import Agent, parse_agents
from ..problems import Problem
from ..yamlfile import line_of
from .state import MeetingsState

if TYPE_CHECKING:
    from ..app import Chinwag

MEETING_KEYS = {"fallback", "invitation_template", "summary", "online_meeting", "teams",
                "account_routing", "rules", "period", "reconcile_every"}
RECONCILE_LIMITS = (1, 86400)  # seconds between sweeps for events whose booking did not finish
PERIODS = ("day", "week", "month")


@attrs.frozen
class Rule:
    """A custom routing rule: when ``condition`` holds, route to ``agent`` or ``team``."""

    name: str
    condition: Mapping[str, Any]
    agent: str | None = None
    team: str | None = None


@attrs.frozen
class MeetingSettings:
    """Everything the meeting card, routing and booking need from the project configuration."""

    agents: Mapping[str, Agent] = attrs.field(factory=dict)
    teams: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    rules: tuple[Rule, ...] = ()
    accounts: Mapping[str, str] = attrs.field(factory=dict)  # company domain -> owner agent email
    # One text, or language -> text; None (or a language it leaves out): the catalog's meeting_fallback.
    fallback: str | Mapping[str, str] | None = None
    invitation_template: str = "invitation.txt"
    summary: str = "{{ lead.firstName or lead.email }} and {{ agent.name }}"
    online_meeting: bool = False
    period: str = "month"
    reconcile_every: float = 300.0  # seconds between sweeps for events without a meeting


def meeting_settings(app: Chinwag) -> MeetingSettings:
    """The settings in force: chinwag.yaml's (parsed by ``check_config`` when the app was
    prepared) with the agents' saved schedules as last read (``schedules.refresh_schedules``)."""
    state = app.plugin_state(MeetingsState)
    if state.settings is None:
        keep_settings(app, parse_meeting_settings(app.config, app)[0])
    assert state.settings is not None
    return state.settings


def keep_settings(app: Chinwag, configured: MeetingSettings) -> None:
    """Keep chinwag.yaml's parsed settings for the app, with the schedules saved so far over them."""
    from .schedules import with_schedules

    state = app.plugin_state(MeetingsState)
    state.configured = configured
    state.settings = with_schedules(configured, state.saved)


def parse_meeting_settings(config: Any, app: Chinwag) -> tuple[MeetingSettings, list[Problem]]:
    """Read ``agents:`` and ``meetings:``; return the settings and every problem found."""
    file = str(config.file)
    raw = config.raw if isinstance(config.raw, Mapping) else {}
    agents, problems = parse_agents(config.sections.get("agents"), raw.get("agents"), file, app.calendar_providers)
    section = config.sections.get("meetings") or {}
    source = raw.get("meetings")

    def problem(key: str, message: str, node: Any = None, at: Any = None) -> None:
        problems.append(Problem(file, line_of(node if node is not None else source, at if at is not None else key),
                                f"meetings.{key}", message))

    if not isinstance(section, Mapping):
        problems.append(Problem(file, line_of(raw, "meetings"), "meetings", "must be a mapping"))
        return MeetingSettings(agents=agents), problems
    for key in sorted(set(section) - MEETING_KEYS, key=str):
        if key == "public_url":
            problem(key, "moved: public_url is now a top-level setting of chinwag.yaml")
        else:
            problem(key, f"unknown setting (known: {', '.join(sorted(MEETING_KEYS))})")
    values: dict[str, Any] = {}
    texts = ("fallback", "invitation_template", "summary")
    if isinstance(section.get("fallback"), Mapping):  # one text per language
        texts = texts[1:]
        bad = [code for code, text in section["fallback"].items()
               if normalise(code) != code or not isinstance(text, str) or not text.strip()]
        for code in bad:
            problem("fallback", f"{code!r} must be a locale code (like en, es or pt-BR) with non-empty text",
                    source.get("fallback") if isinstance(source, Mapping) else None, code)
        if not bad:
            values["fallback"] = dict(section["fallback"])
    for key in texts:
        if key in section:
            if isinstance(section[key], str) and section[key].strip():
                values[key] = section[key]
            else:
                problem(key, "must be non-empty text")
    if "online_meeting" in section:
        if isinstance(section["online_meeting"], bool):
            values["online_meeting"] = section["online_meeting"]
        else:
            problem("online_meeting", "must be true or false")
    if "period" in section:
        if section["period"] in PERIODS:
            values["period"] = section["period"]
        else:
            problem("period", f"must be one of {', '.join(PERIODS)}")
    if "reconcile_every" in section:
        every, (smallest, largest) = section["reconcile_every"], RECONCILE_LIMITS
        if isinstance(every, (int, float)) and not isinstance(every, bool) and smallest <= every <= largest:
            values["reconcile_every"] = float(every)
        else:
            problem("reconcile_every", f"must be a number of seconds from {smallest} to {largest}")
    teams = _teams(section.get("teams", {}), agents, problem)
    rules = _rules(section.get("rules", []), agents, teams, app, problem, source)
    accounts = _accounts(section.get("account_routing"), config.project_dir, agents, problem)
    settings = MeetingSettings(agents=agents, teams=teams, rules=rules, accounts=accounts, **values)
    return settings, problems


def _teams(value: Any, agents: Mapping[str, Agent], problem: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        problem("teams", "must map team names to lists of agent emails")
        return {}
    teams = {}
    for name, members in value.items():
        if not isinstance(members, list) or not members:
            problem("teams", f"team {name!r} needs a non-empty list of agent emails")
            continue
        unknown = [m for m in members if str(m).lower() not in agents]
        if unknown:
            problem("teams", f"team {name!r} names unknown agent(s): {', '.join(map(str, unknown))}")
        teams[str(name)] = tuple(str(m).lower() for m in members if str(m).lower() in agents)
    return teams


def _rules(value: Any, agents: Mapping[str, Agent], teams: Mapping[str, Any], app: Chinwag, problem: Any,
           source: Any) -> tuple[Rule, ...]:
    if not isinstance(value, list):
        problem("rules", "must be a list of {name, if, agent or team}")
        return ()
    node = source.get("rules") if isinstance(source, Mapping) else None
    rules = []
    for index, item in enumerate(value):
        where = f"rules[{index}]"
        if not isinstance(item, Mapping) or "if" not in item or (("agent" in item) == ("team" in item)):
            problem(where, "needs 'if' (a condition) and exactly one of 'agent' or 'team'", node, index)
            continue
        found = conditions.check(item["if"], lambda name: name in app.attributes, "if")
        found += conditions.looked_up_only(item["if"], app.attributes, "if")
        agent, team = item.get("agent"), item.get("team")
        if agent is not None and str(agent).lower() not in agents:
            found.append(f"agent {agent!r} is not listed under agents:")
        if team is not None and team not in teams:
            found.append(f"team {team!r} is not defined under meetings.teams")
        for message in found:
            problem(where, message, node, index)
        if not found:
            rules.append(Rule(str(item.get("name", where)), item["if"], str(agent).lower() if agent else None, team))
    return tuple(rules)


def _accounts(value: Any, project_dir: Path, agents: Mapping[str, Agent], problem: Any) -> dict[str, str]:
    """Company domain -> owner agent from the account routing CSV (columns company, domain, agent)."""
    if value is None:
        return {}
    path = project_dir / str(value)
    if not isinstance(value, str) or not path.is_file():
        problem("account_routing", f"must name a CSV file in the project folder ({path} not found)")
        return {}
    accounts = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"domain", "agent"} <= set(reader.fieldnames):
            problem("account_routing", f"{value}: needs the columns company, domain, agent")
            return {}
        for line, row in enumerate(reader, start=2):
            domain, agent = (row.get("domain") or "").strip().lower(), (row.get("agent") or "").strip().lower()
            if agent not in agents:
                problem("account_routing", f"{value}:{line}: agent {agent!r} is not listed under agents:")
            elif domain:
                accounts[domain.removeprefix("www.")] = agent
    return accounts

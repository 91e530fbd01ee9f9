"""The plugin's settings: chinwag.yaml ``plugins: marketo: {...}``, checked with lines and typed.

    plugins:
      marketo:
        base_url: https://123-ABC-456.mktorest.com     # REST and identity host of the instance
        client_id: {"$env": MARKETO_CLIENT_ID}         # a LaunchPoint API-only user's service
        client_secret: {"$env": MARKETO_CLIENT_SECRET}
        person_fields: [firstName, lastName, title]    # synced in, as person.<field>
        company_fields: [company, industry]            # synced in, as company.<field>
        programs:                                       # program membership, per dialogue or goal
          - {program_id: 1044, status: Influenced, dialogue: welcome}
          - {program_id: 1050, status: Engaged, goal: demo-requested}
        rate_share: 40                                  # write-back and sync calls per 20 s, of the instance's 100
        lookup_share: 10                                # real-time lookups per 20 s (a visitor is waiting)
        concurrency: 5                                  # calls at once, of the instance's 10
        sync_activity_types: [2, 11]                    # activity type ids the initial sync exports too (at most 10)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs
from chinwag.plugin_settings import SettingsCheck
from chinwag.problems import Problem
from chinwag.yamlfile import line_of

PLUGIN_NAME = "marketo"
MAX_SYNCED_FIELDS = 50  # the reference product syncs at most 50 person and company attributes
MAX_SYNCED_ACTIVITY_TYPES = 10  # activityTypeIds a bulk activity export accepts
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# chinwag's lead attributes and the Marketo lead fields they are written to (``field_map`` adds more).
DEFAULT_FIELD_MAP = {
    "lead.email": "email", "lead.firstName": "firstName", "lead.lastName": "lastName", "lead.phone": "phone",
    "lead.title": "title", "lead.country": "country", "lead.state": "state", "company.name": "company",
    "company.industry": "industry", "company.size": "numberOfEmployees",
}

# The three custom activity types (API names) chinwag writes, after the reference product's own.
DEFAULT_ACTIVITY_TYPES = {
    "engaged": "chinwagEngagedWithDialogue",
    "goal": "chinwagReachedDialogueGoal",
    "meeting": "chinwagScheduledMeeting",
}

NUMBER_LIMITS: dict[str, tuple[float, float, bool]] = {
    "rate_share": (1, 100, True),
    "lookup_share": (0, 100, True),
    "concurrency": (1, 10, True),
    "batch_size": (1, 3000, True),  # events per delivery; each call carries at most 300 records
    "timeout": (0.1, 300, False),
    "rate_window": (0.1, 60, False),
    "batch_wait": (0, 300, False),  # seconds an event may wait for its batch of 300 to fill
    "sync_every": (0, 86400, False),  # seconds between scheduled incremental syncs in chinwag serve (0: off)  # Marketo's is 20 s; another value only for a stand-in with its own
}
KNOWN_KEYS = {"base_url", "client_id", "client_secret", "sandbox", "person_fields", "company_fields", "field_map",
              "activity_types", "programs", "delete_on_forget", "sync_activity_types", *NUMBER_LIMITS}


@attrs.frozen
class ProgramRule:
    """Add the lead to ``program_id`` with ``status`` when a dialogue is engaged or a goal reached."""

    program_id: int
    status: str
    dialogue: str | None = None
    goal: str | None = None


@attrs.frozen
class MarketoSettings:
    """Everything the connector needs, checked."""

    base_url: str = ""
    client_id: str | None = None
    client_secret: str | None = None
    sandbox: bool = False
    person_fields: tuple[str, ...] = ("firstName", "lastName")
    company_fields: tuple[str, ...] = ("company",)
    field_map: Mapping[str, str] = attrs.field(factory=lambda: dict(DEFAULT_FIELD_MAP))
    activity_types: Mapping[str, str] = attrs.field(factory=lambda: dict(DEFAULT_ACTIVITY_TYPES))
    programs: tuple[ProgramRule, ...] = ()
    rate_share: int = 40
    lookup_share: int = 10
    concurrency: int = 5
    batch_size: int = 900
    timeout: float = 30.0
    rate_window: float = 20.0
    batch_wait: float = 5.0
    sync_every: float = 900.0
    delete_on_forget: bool = False
    sync_activity_types: tuple[int, ...] = ()  # activity type ids the initial sync exports (none: leads only)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MarketoSettings:
        """Settings from the plugin's section (assumed checked by ``config_problems``)."""
        defaults = cls()
        return cls(
            base_url=str(config.get("base_url", "")).rstrip("/"),
            client_id=config.get("client_id"), client_secret=config.get("client_secret"),
            sandbox=config.get("sandbox") is True,
            person_fields=tuple(config.get("person_fields", defaults.person_fields)),
            company_fields=tuple(config.get("company_fields", defaults.company_fields)),
            field_map={**DEFAULT_FIELD_MAP, **dict(config.get("field_map") or {})},
            activity_types={**DEFAULT_ACTIVITY_TYPES, **dict(config.get("activity_types") or {})},
            programs=tuple(ProgramRule(int(rule["program_id"]), str(rule["status"]), rule.get("dialogue"), rule.get("goal"))
                           for rule in config.get("programs") or ()),
            **{key: type(getattr(defaults, key))(config.get(key, getattr(defaults, key))) for key in NUMBER_LIMITS},
            delete_on_forget=config.get("delete_on_forget") is True,
            sync_activity_types=tuple(int(type_id) for type_id in config.get("sync_activity_types") or ()),
        )


def config_problems(config: Mapping[str, Any], file: str, source: Any = None) -> list[Problem]:
    """What is wrong with ``plugins: marketo:``; [] when it is absent or fine."""
    if not config:
        return []
    check = SettingsCheck(PLUGIN_NAME, config, file, source)
    check.unknown_keys(KNOWN_KEYS)
    check.provider_client(("client_id", "client_secret"), "a LaunchPoint service of an API-only user in Marketo Admin")
    if config.get("sandbox") is not True:
        check.required_text(("base_url",), "is required: the instance's REST host, like https://123-ABC-456.mktorest.com")
    check.http_urls(("base_url",))
    check.numbers(NUMBER_LIMITS)
    shares = [config.get(key, default) for key, default in (("rate_share", 40), ("lookup_share", 10))]
    if all(isinstance(share, int) for share in shares) and sum(shares) > 100:
        check.problem("lookup_share", "rate_share and lookup_share together must stay within Marketo's 100 calls per 20 s")
    fields = []
    for key in ("person_fields", "company_fields"):
        value = config.get(key, [])
        if not isinstance(value, list) or not all(isinstance(name, str) and FIELD_NAME.match(name) for name in value):
            check.problem(key, "must be a list of Marketo field API names, like [firstName, title]")
        else:
            fields += value
    if len(fields) > MAX_SYNCED_FIELDS:
        check.problem("person_fields", f"at most {MAX_SYNCED_FIELDS} person and company fields together ({len(fields)} given)")
    _mapping(check, config, "field_map", lambda name: bool(re.match(r"^(lead|company)\.[A-Za-z_]\w*$", str(name))),
             "must map chinwag attributes (lead.* or company.*) to Marketo field API names")
    _mapping(check, config, "activity_types", lambda name: name in DEFAULT_ACTIVITY_TYPES,
             f"must map {', '.join(DEFAULT_ACTIVITY_TYPES)} to custom activity type API names")
    _programs(check, config, source)
    if "delete_on_forget" in config and not isinstance(config["delete_on_forget"], bool):
        check.problem("delete_on_forget", "must be true or false")
    _activity_type_ids(check, config)
    return check.problems


def _activity_type_ids(check: SettingsCheck, config: Mapping[str, Any]) -> None:
    value = config.get("sync_activity_types")
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(type_id, int) and not isinstance(type_id, bool)
                                              and type_id > 0 for type_id in value):
        check.problem("sync_activity_types", "must be a list of Marketo activity type ids (whole numbers), like [2, 11]")
    elif len(value) > MAX_SYNCED_ACTIVITY_TYPES:
        check.problem("sync_activity_types", f"at most {MAX_SYNCED_ACTIVITY_TYPES} activity types, as Marketo's "
                      f"bulk export allows ({len(value)} given)")
    elif len(set(value)) != len(value):
        check.problem("sync_activity_types", "names an activity type twice")


def _mapping(check: SettingsCheck, config: Mapping[str, Any], key: str, key_ok: Any, message: str) -> None:
    value = config.get(key)
    if value is None:
        return
    if not isinstance(value, Mapping) or not all(key_ok(name) and isinstance(target, str) and FIELD_NAME.match(target)
                                                 for name, target in value.items()):
        check.problem(key, message)


def _programs(check: SettingsCheck, config: Mapping[str, Any], source: Any) -> None:
    rules = config.get("programs")
    if rules is None:
        return
    if not isinstance(rules, list):
        check.problem("programs", "must be a list of {program_id, status, dialogue or goal}")
        return
    node = source.get("programs") if isinstance(source, Mapping) else None
    for index, rule in enumerate(rules):
        where = f"programs[{index}]"
        ok = (isinstance(rule, Mapping) and set(rule) <= {"program_id", "status", "dialogue", "goal"}
              and isinstance(rule.get("program_id"), int) and not isinstance(rule.get("program_id"), bool)
              and rule["program_id"] > 0 and isinstance(rule.get("status"), str) and rule["status"].strip()
              and (rule.get("dialogue") is None) != (rule.get("goal") is None))
        if not ok:
            check.problems.append(Problem(check.file, line_of(node, index), f"plugins.{PLUGIN_NAME}.{where}",
                                          "needs program_id (a number), status (a program status name) and "
                                          "either dialogue or goal"))

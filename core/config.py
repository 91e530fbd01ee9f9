"""The project folder's ``chinwag.yaml``: reading, ``$env`` secrets, validation, redaction.

A project folder holds ``chinwag.yaml``, ``dialogues/*.yaml`` and optionally ``templates/``
(Jinja2 templates that override the built-in ones).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .abuse_limits import LimitSettings, parse_limits
from .problems import InvalidProject, Problem
from .publishing import PublishingSettings, parse_publishing
from .yamlfile import YamlError, line_of, load_yaml

CONFIG_FILE = "chinwag.yaml"
DEFAULT_DATABASE = "sqlite+aiosqlite:///chinwag.db"
SECRET_KEY_PATTERN = re.compile(r"(secret|token|password|passwd|api[_-]?key|private|credential)", re.IGNORECASE)
REDACTED = "***"

# Top-level keys of chinwag.yaml that core reads. Any other key is a section a plugin declares
# (``register_config_sections``); its value is kept in ``Config.sections`` for that plugin.
CORE_KEYS = {"name", "database", "allowed_origins", "admin_token", "retention", "attributes",
             "response_delay", "plugins", "chat_enabled", "monthly_cap", "public_url", "outbox", "demo", "limits",
             "publishing"}
MOVED_KEYS = {"retention_days"}  # reported as moved, with where to, rather than as unknown
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@attrs.frozen
class ConfigSection:
    """A top-level section of chinwag.yaml owned by a plugin (``register_config_sections``)."""

    name: str
    description: str = ""


@attrs.frozen
class AttributeSpec:
    """A project-declared attribute (``attributes:`` in chinwag.yaml)."""

    name: str
    type: str = "string"
    label: str | None = None


@attrs.frozen
class Config:
    """A validated project configuration; secrets already read from the environment."""

    project_dir: Path
    name: str = "chinwag"
    database: str = DEFAULT_DATABASE
    # Whether serving and commands upgrade the schema first (``database.migrate``): True, False or
    # None for "auto" (a SQLite database yes, PostgreSQL no; see ``chinwag.schema_policy``).
    migrate: bool | None = None
    allowed_origins: tuple[str, ...] = ()
    admin_token: str | None = None
    public_url: str = DEFAULT_PUBLIC_URL
    retention: Mapping[str, Any] = attrs.field(factory=dict)  # overrides of RetentionPolicy fields
    response_delay: float = 1.0
    chat_enabled: bool = True
    monthly_cap: int | None = None  # engaged conversations a month; at the cap no dialogue starts
    demo: bool = False  # a public demo on purpose: sandboxes may be served beyond loopback
    attributes: tuple[AttributeSpec, ...] = ()
    plugins: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    outbox: Mapping[str, float] = attrs.field(factory=dict)  # delivery policy overrides (OutboxPolicy fields)
    limits: LimitSettings = LimitSettings()  # abuse limits of the public chat endpoint
    publishing: PublishingSettings = PublishingSettings()  # how dialogue versions are published
    sections: Mapping[str, Any] = attrs.field(factory=dict)
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def file(self) -> Path:
        """The path of chinwag.yaml."""
        return self.project_dir / CONFIG_FILE

    @property
    def dialogues_dir(self) -> Path:
        """Where the dialogue files live."""
        return self.project_dir / "dialogues"

    @property
    def templates_dir(self) -> Path:
        """Where project templates that override the built-in ones live."""
        return self.project_dir / "templates"

    def unknown_sections(self, declared: set[str]) -> list[Problem]:
        """A problem, with its line, for each top-level key neither core nor a plugin declares."""
        known = ", ".join(sorted(CORE_KEYS | declared))
        return [Problem(str(self.file), line_of(self.raw, key), str(key), f"unknown setting (known: {known})")
                for key in sorted(set(self.sections) - declared, key=str)]

    def plugin_config(self, plugin_name: str) -> Mapping[str, Any]:
        """The ``plugins: {name: {...}}`` section for one plugin (empty when absent)."""
        return self.plugins.get(plugin_name, {})

    def redacted(self) -> dict[str, Any]:
        """The configuration as written, with every secret-looking value replaced by ``***``."""
        return redact(self.raw)


def redact(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with values under secret-looking keys (or read from ``$env``) hidden."""
    if isinstance(value, Mapping):
        if "$env" in value:
            return {"$env": value["$env"]}
        return {k: (REDACTED if SECRET_KEY_PATTERN.search(str(k)) and v is not None and not isinstance(v, Mapping)
                    else redact(v, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item, key) for item in value]
    return value


def resolve_env(value: Any, file: str, problems: list[Problem], where: str = "", node: Any = None, key: Any = None) -> Any:
    """Replace every ``{"$env": "NAME"}`` (optionally with ``default``) by the variable's value."""
    if isinstance(value, Mapping):
        if "$env" in value:
            name = value["$env"]
            if not isinstance(name, str) or set(value) - {"$env", "default"}:
                problems.append(Problem(file, line_of(node, key), where, "'$env' takes a variable name and an optional 'default'"))
                return None
            if name in os.environ:
                return os.environ[name]
            if "default" in value:
                return value["default"]
            problems.append(Problem(file, line_of(node, key), where, f"environment variable {name} is not set"))
            return None
        return {k: resolve_env(v, file, problems, f"{where}.{k}" if where else str(k), value, k) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(item, file, problems, f"{where}[{i}]", value, i) for i, item in enumerate(value)]
    return value


def _database_url(url: str, project_dir: Path) -> str:
    """Make a relative SQLite path relative to the project folder."""
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str((project_dir / url[len(prefix):]).resolve())
    return url


def _database(value: Any, raw: Any, file: str, problems: list[Problem]) -> tuple[Any, bool | None]:
    """``database:``: a URL, or a mapping ``{url: URL, migrate: auto | true | false}``; (url, migrate)."""
    if not isinstance(value, Mapping):
        return value, None
    node = raw.get("database") if isinstance(raw, Mapping) else None
    for key in set(value) - {"url", "migrate"}:
        problems.append(Problem(file, line_of(node, key), f"database.{key}", "unknown setting (url, migrate)"))
    migrate = value.get("migrate", "auto")
    if migrate not in (True, False, "auto"):
        problems.append(Problem(file, line_of(node, "migrate"), "database.migrate", "must be auto, true or false"))
        migrate = "auto"
    return value.get("url", DEFAULT_DATABASE), None if migrate == "auto" else migrate


def load_config(project_dir: Path | str) -> Config:
    """Read and validate ``chinwag.yaml``; raise ``InvalidProject`` naming every problem."""
    config, problems = read_config(project_dir)
    if problems:
        raise InvalidProject(problems)
    return config


def read_config(project_dir: Path | str) -> tuple[Config, list[Problem]]:
    """Read ``chinwag.yaml``: the configuration (a default for each bad value) and every problem.

    Raises ``InvalidProject`` only when there is no configuration to speak of (no folder, no
    file, not YAML), so the caller can go on and report the plugins' and dialogues' problems too.
    """
    project_dir = Path(project_dir).resolve()
    file = project_dir / CONFIG_FILE
    if not project_dir.is_dir():
        raise InvalidProject([Problem(str(project_dir), None, "", "no such project folder")])
    if not file.exists():
        raise InvalidProject([Problem(str(file), None, "", "missing: a project folder needs a chinwag.yaml")])
    try:
        raw = load_yaml(file) or {}
    except YamlError as error:
        raise InvalidProject([Problem(str(file), error.line, "", error.message)]) from error
    if not isinstance(raw, Mapping):
        raise InvalidProject([Problem(str(file), None, "", "chinwag.yaml must be a mapping of settings")])
    problems: list[Problem] = []
    name = str(file)

    def problem(key: str, message: str, node: Any = raw) -> None:
        problems.append(Problem(name, line_of(node, key), key, message))

    values = resolve_env(raw, name, problems)

    database, migrate = _database(values.get("database", DEFAULT_DATABASE), raw, name, problems)
    if not isinstance(database, str) or not re.match(r"^(sqlite\+aiosqlite|postgresql\+asyncpg)://", database):
        problem("database", "must be a sqlite+aiosqlite:/// or postgresql+asyncpg:// URL")
        database = DEFAULT_DATABASE
    origins = values.get("allowed_origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) and re.match(r"^https?://[^/]+$", o) for o in origins):
        problem("allowed_origins", "must be a list of origins like https://www.example.com (scheme and host, no path)")
        origins = []
    admin_token = values.get("admin_token")
    if admin_token is not None and (not isinstance(admin_token, str) or len(admin_token) < 16):
        problem("admin_token", "must be a string of at least 16 characters (read it from the environment with $env)")
        admin_token = None
    public_url = values.get("public_url", DEFAULT_PUBLIC_URL)
    if not isinstance(public_url, str) or not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", public_url):
        problem("public_url", "must be the URL the server is reached at, like https://chat.example.com")
        public_url = DEFAULT_PUBLIC_URL
    if "retention_days" in values:
        problem("retention_days", "has moved: write retention: {conversation_days: N, reporting_days: N} "
                                  "(see docs/configuration.md)")
    retention = _retention(values.get("retention", {}), raw, name, problems)
    delay = values.get("response_delay", 1.0)
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or not 0 <= delay <= 30:
        problem("response_delay", "must be a number of seconds from 0 to 30")
        delay = 1.0
    chat_enabled = values.get("chat_enabled", True)
    if not isinstance(chat_enabled, bool):
        problem("chat_enabled", "must be true or false")
        chat_enabled = True
    monthly_cap = values.get("monthly_cap")
    if monthly_cap is not None and (isinstance(monthly_cap, bool) or not isinstance(monthly_cap, int) or monthly_cap < 1):
        problem("monthly_cap", "must be a whole number of engaged conversations a month, at least 1 (or null: no cap)")
        monthly_cap = None
    demo = values.get("demo", False)
    if not isinstance(demo, bool):
        problem("demo", "must be true or false")
        demo = False
    attributes = _attributes(values.get("attributes", []), raw, name, problems)
    outbox = _outbox(values.get("outbox", {}), raw, name, problems)
    limits = parse_limits(values.get("limits"), raw, name, problems)
    publishing = parse_publishing(values.get("publishing"), raw, name, problems)
    plugins = values.get("plugins", {}) or {}
    if not isinstance(plugins, Mapping) or not all(isinstance(v, Mapping) for v in plugins.values()):
        problem("plugins", "must map plugin names to mappings of their settings")
        plugins = {}
    return Config(
        project_dir=project_dir, name=str(values.get("name", project_dir.name)),
        database=_database_url(database, project_dir), migrate=migrate, allowed_origins=tuple(origins),
        admin_token=admin_token, public_url=public_url.rstrip("/"), retention=retention, response_delay=float(delay),
        chat_enabled=chat_enabled, monthly_cap=monthly_cap, demo=demo, attributes=attributes, plugins=plugins,
        outbox=outbox, limits=limits, publishing=publishing,
        sections={key: value for key, value in values.items() if key not in CORE_KEYS | MOVED_KEYS}, raw=raw,
    ), problems


_ATTRIBUTE_NAME = re.compile(r"^(lead|company|visit)\.[A-Za-z_][A-Za-z0-9_]*$")
ATTRIBUTE_TYPES = ("string", "number", "boolean", "email", "phone")


def _attributes(value: Any, raw: Any, file: str, problems: list[Problem]) -> tuple[AttributeSpec, ...]:
    node = raw.get("attributes") if isinstance(raw, Mapping) else None
    if not isinstance(value, list):
        problems.append(Problem(file, line_of(raw, "attributes"), "attributes", "must be a list"))
        return ()
    specs = []
    for index, item in enumerate(value):
        where = f"attributes[{index}]"
        line = line_of(node, index)
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not _ATTRIBUTE_NAME.match(item["name"]):
            problems.append(Problem(file, line, where, "each attribute needs a name like lead.jobTitle, company.industry or visit.plan"))
            continue
        kind = item.get("type", "string")
        if kind not in ATTRIBUTE_TYPES:
            problems.append(Problem(file, line, where, f"type must be one of {', '.join(ATTRIBUTE_TYPES)}"))
            continue
        specs.append(AttributeSpec(item["name"], kind, item.get("label")))
    return tuple(specs)


# The outbox's delivery policy (``chinwag.outbox_worker.OutboxPolicy``): setting -> (whole number?, minimum).
OUTBOX_SETTINGS = {"max_attempts": (True, 1), "base_delay": (False, 0.001), "max_delay": (False, 0.001),
                   "lease_seconds": (False, 0.1), "poll_interval": (False, 0.01), "linger": (False, 0)}


# How long what is stored is kept (``chinwag.retention``): setting -> (whole number?, minimum). Days
# may be null: kept for good.
RETENTION_SETTINGS = {"anonymous_days": (True, 1), "conversation_days": (True, 1), "reporting_days": (True, 1),
                      "activity_days": (True, 1), "known_visitor_days": (True, 1), "outbox_days": (True, 1),
                      "purge_every": (False, 0)}


def _numbers(section: str, value: Any, raw: Any, file: str, problems: list[Problem],
             known: Mapping[str, tuple[bool, float]], unit: str, nullable: bool = False) -> dict[str, Any]:
    """A section of numeric settings (``outbox:``, ``retention:``), each checked against ``known``;
    a problem with its line for each bad one."""
    node = raw.get(section) if isinstance(raw, Mapping) else None
    if not isinstance(value, Mapping):
        problems.append(Problem(file, line_of(raw, section), section, f"must be a mapping of {section} settings"))
        return {}
    settings: dict[str, Any] = {}
    for key, setting in value.items():
        where, line = f"{section}.{key}", line_of(node, key)
        if key not in known:
            problems.append(Problem(file, line, where, f"unknown setting (known: {', '.join(known)})"))
            continue
        if setting is None and nullable and str(key).endswith("_days"):
            settings[str(key)] = None
            continue
        whole, minimum = known[key]
        kinds = (int,) if whole else (int, float)
        if isinstance(setting, bool) or not isinstance(setting, kinds) or setting < minimum:
            kind = (f"a whole number of {unit}" if unit else "a whole number") if whole else "a number of seconds"
            problems.append(Problem(file, line, where, f"must be {kind}, at least {minimum}"))
            continue
        settings[str(key)] = setting
    return settings


def _outbox(value: Any, raw: Any, file: str, problems: list[Problem]) -> dict[str, float]:
    settings = _numbers("outbox", value, raw, file, problems, OUTBOX_SETTINGS, "")
    if settings.get("max_delay", 900.0) < settings.get("base_delay", 1.0):
        node = raw.get("outbox") if isinstance(raw, Mapping) else None
        problems.append(Problem(file, line_of(node, "max_delay"), "outbox.max_delay", "must not be less than base_delay"))
    return settings


def _retention(value: Any, raw: Any, file: str, problems: list[Problem]) -> dict[str, Any]:
    return _numbers("retention", value, raw, file, problems, RETENTION_SETTINGS, "days", nullable=True)

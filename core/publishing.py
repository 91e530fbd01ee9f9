"""Publishing: which version of each dialogue visitors get, kept in the database for every process.

A dialogue file is the working copy. Each of its versions is recorded in ``dialogue_versions``
when a process starts (``record_versions``); a version is a draft until it is published. What is
published lives in ``dialogue_publications``, one row per dialogue (status, version, who and when),
so every process serves the same thing and picks up a publish or an unpublish within
``publishing.refresh_seconds`` without a restart (``Publisher.refresh``, called lazily by the
chat path: an idle process reads nothing).

Two modes (``publishing.mode`` in chinwag.yaml):

* ``auto`` (the default): a serving process publishes each dialogue file's version when it starts,
  unless that dialogue was unpublished or a newer version is published; a dialogue whose file is
  gone is unpublished. The project folder is the truth; ``chinwag dialogues`` still works.
* ``manual``: nothing is published by starting a server. A new dialogue or version is a draft
  until ``chinwag dialogues publish`` (or the admin API, or the console) publishes it.

The rules for visitors (the reference product's): one who engaged finishes the version they
started, even after a new version is published or the dialogue is unpublished; one who was shown
a version but never answered gets the newly published one, or nothing once it is unpublished.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from .dialogue import Dialogue, parse_dialogue
from .problems import Problem
from .store import utc, utcnow
from .tables import dialogue_versions
from .yamlfile import line_of

if TYPE_CHECKING:
    from .app import Chinwag

log = logging.getLogger("chinwag.publishing")

PUBLISHED, UNPUBLISHED, DRAFT = "published", "unpublished", "draft"
MODES = ("auto", "manual")
AUTO_BY = "auto (project files)"  # ``changed_by`` of what a server publishes in auto mode

metadata = sa.MetaData()

# One row per dialogue that was ever published: whether it is now, which version, who and when.
dialogue_publications = sa.Table(
    "dialogue_publications",
    metadata,
    sa.Column("dialogue_id", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(12), nullable=False),  # published | unpublished
    sa.Column("version", sa.Integer, nullable=False),  # the version published (the last one, when unpublished)
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("changed_by", sa.String(200), nullable=True),
)


class PublishingError(ValueError):
    """A publish or unpublish that cannot be done (an unknown dialogue or version), said plainly."""


@attrs.frozen
class PublishingSettings:
    """The ``publishing:`` section of chinwag.yaml."""

    mode: str = "auto"
    refresh_seconds: float = 2.0  # how stale a process's view of what is published may get


def parse_publishing(value: Any, raw: Any, file: str, problems: list[Problem]) -> PublishingSettings:
    """The ``publishing:`` section, each problem reported with its line."""
    if value is None:
        return PublishingSettings()
    node = raw.get("publishing") if isinstance(raw, Mapping) else None
    if not isinstance(value, Mapping):
        problems.append(Problem(file, line_of(raw, "publishing"), "publishing",
                                "must be a mapping like {mode: manual, refresh_seconds: 2}"))
        return PublishingSettings()
    settings: dict[str, Any] = {}
    for key, setting in value.items():
        where, line = f"publishing.{key}", line_of(node, key)
        if key == "mode":
            if setting not in MODES:
                problems.append(Problem(file, line, where, f"must be one of {', '.join(MODES)}"))
            else:
                settings["mode"] = setting
        elif key == "refresh_seconds":
            if isinstance(setting, bool) or not isinstance(setting, (int, float)) or not 0.05 <= setting <= 3600:
                problems.append(Problem(file, line, where, "must be a number of seconds from 0.05 to 3600"))
            else:
                settings["refresh_seconds"] = float(setting)
        else:
            problems.append(Problem(file, line, where, "unknown setting (known: mode, refresh_seconds)"))
    return PublishingSettings(**settings)


@attrs.frozen
class Publication:
    """A dialogue's row of ``dialogue_publications``."""

    dialogue_id: str
    status: str
    version: int
    changed_at: dt.datetime
    changed_by: str | None

    def listing(self) -> dict[str, Any]:
        """As JSON for the admin API and ``chinwag dialogues``."""
        return {"dialogue": self.dialogue_id, "status": self.status, "version": self.version,
                "changed_at": self.changed_at.isoformat(), "changed_by": self.changed_by}


@attrs.frozen
class DialogueState:
    """A dialogue as ``chinwag dialogues list`` shows it: its publication and its versions."""

    id: str
    name: str
    status: str  # published | unpublished | draft (never published)
    published_version: int | None  # the version visitors get (None unless published)
    latest_version: int  # the newest version known (the file's, usually)
    versions: tuple[int, ...]
    in_files: bool  # whether the project folder has it
    priority: int | None
    running: bool  # published and within its starts and ends now
    changed_at: dt.datetime | None
    changed_by: str | None

    def listing(self) -> dict[str, Any]:
        """As JSON for the admin API and ``chinwag dialogues list --format json``."""
        return {"id": self.id, "name": self.name, "status": self.status, "published_version": self.published_version,
                "latest_version": self.latest_version, "versions": list(self.versions), "in_files": self.in_files,
                "priority": self.priority, "running": self.running,
                "changed_at": self.changed_at.isoformat() if self.changed_at else None, "changed_by": self.changed_by}


class Publisher:
    """One app's view of what is published, refreshed from the database, and the publish actions."""

    def __init__(self, app: Chinwag) -> None:
        self.app = app
        self._seen: tuple[tuple[str, str, int], ...] | None = None  # the rows the current view was built from
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()
        self._stored: dict[tuple[str, int], Dialogue | None] = {}  # versions parsed from their stored definitions

    @property
    def settings(self) -> PublishingSettings:
        """The project's ``publishing:`` settings."""
        return self.app.config.publishing

    # -- startup -------------------------------------------------------------------------------------

    async def record_versions(self) -> None:
        """Store the definition of each dialogue file's version (a draft until it is published).

        A version whose file changed since it was recorded is updated with a warning: visitors
        mid-way get the change (a new ``version:`` keeps them on the old one).
        """
        async def record(connection: Any) -> None:
            existing = {(row.dialogue_id, row.version): row.definition
                        for row in await connection.execute(sa.select(dialogue_versions))}
            for dialogue in self.app.dialogue_files.values():
                definition = dialogue_definition(dialogue)
                key = (dialogue.id, dialogue.version)
                if key not in existing:
                    await connection.execute(sa.insert(dialogue_versions).values(
                        dialogue_id=dialogue.id, version=dialogue.version, definition=definition, published_at=utcnow()))
                elif existing[key] != definition:
                    log.warning("dialogue %r changed without a new version: visitors mid-way get the change", dialogue.id)
                    await connection.execute(sa.update(dialogue_versions).where(
                        dialogue_versions.c.dialogue_id == dialogue.id, dialogue_versions.c.version == dialogue.version,
                    ).values(definition=definition))
                    self._stored.pop(key, None)

        await self._retrying(record)

    async def auto_publish(self) -> list[Publication]:
        """(``mode: auto``, serving processes) Publish each file's version unless its dialogue was
        unpublished or has a newer version published; unpublish a dialogue whose file is gone.
        Returns what changed."""
        if self.settings.mode != "auto":
            return []
        changed: list[Publication] = []

        async def apply(connection: Any) -> None:
            changed.clear()
            rows = {row.dialogue_id: row for row in await connection.execute(sa.select(dialogue_publications))}
            now = utcnow()
            for dialogue in self.app.dialogue_files.values():
                row = rows.get(dialogue.id)
                if row is None or (row.status == PUBLISHED and row.version < dialogue.version):
                    changed.append(await _write(connection, dialogue.id, PUBLISHED, dialogue.version, now, AUTO_BY,
                                                insert=row is None))
            for dialogue_id, row in rows.items():
                if row.status == PUBLISHED and dialogue_id not in self.app.dialogue_files:
                    changed.append(await _write(connection, dialogue_id, UNPUBLISHED, row.version, now, AUTO_BY))

        await self._retrying(apply)
        for publication in changed:
            log.info("%s %s version %d (publishing.mode: auto)", publication.status, publication.dialogue_id,
                     publication.version)
        await self.refresh(force=True)
        return changed

    # -- the view the chat path reads ----------------------------------------------------------------

    async def refresh(self, force: bool = False) -> None:
        """Bring ``app.dialogues`` (what visitors get) up to date with the database, when it was
        read more than ``refresh_seconds`` ago (or ``force``); cheap when nothing changed."""
        if not force and time.monotonic() - self._read_at < self.settings.refresh_seconds:
            return
        async with self._lock:
            if not force and time.monotonic() - self._read_at < self.settings.refresh_seconds:
                return  # another caller refreshed while this one waited
            store = self.app.store
            assert store is not None, "the app has not started"
            async with store.connect() as connection:
                rows = tuple(sorted((row.dialogue_id, row.status, row.version) for row in await connection.execute(
                    sa.select(dialogue_publications.c.dialogue_id, dialogue_publications.c.status,
                              dialogue_publications.c.version))))
                if rows != self._seen:
                    self.app.dialogues = await self._published(connection, rows)
                    self._seen = rows
            self._read_at = time.monotonic()

    async def _published(self, connection: Any, rows: tuple[tuple[str, str, int], ...]) -> dict[str, Dialogue]:
        """The dialogue of each published row: the file's when it is that version, else the stored one."""
        published: dict[str, Dialogue] = {}
        for dialogue_id, status, version in rows:
            if status != PUBLISHED:
                continue
            dialogue = await self.version(dialogue_id, version, connection)
            if dialogue is None:
                log.error("dialogue %r version %d is published but cannot be read: it is not shown", dialogue_id, version)
                continue
            published[dialogue_id] = dialogue
        return published

    async def version(self, dialogue_id: str, version: int, connection: Any | None = None) -> Dialogue | None:
        """Version ``version`` of a dialogue: the file's when it has that version, else the one
        stored in ``dialogue_versions`` (None when there is none or it cannot be read)."""
        current = self.app.dialogue_files.get(dialogue_id)
        if current is not None and current.version == version:
            return current
        key = (dialogue_id, version)
        if key not in self._stored:
            if connection is None:
                assert self.app.store is not None, "the app has not started"
                async with self.app.store.connect() as own:
                    definition = await _definition_of(own, dialogue_id, version)
            else:
                definition = await _definition_of(connection, dialogue_id, version)
            dialogue = None
            if definition is not None:
                dialogue, problems = parse_dialogue(definition, f"<{dialogue_id} v{version}>")
                if problems:
                    log.error("stored dialogue %r version %d: %s", dialogue_id, version, "; ".join(map(str, problems)))
            self._stored[key] = dialogue
        return self._stored[key]

    # -- actions -------------------------------------------------------------------------------------

    async def publish(self, dialogue_id: str, version: int | None = None, by: str | None = None) -> Publication:
        """Publish version ``version`` of a dialogue (default: the newest known); every process
        serves it within ``refresh_seconds``. Raises ``PublishingError`` for an unknown dialogue
        or version, or a stored version that can no longer be read."""
        store = self.app.store
        assert store is not None, "the app has not started"
        async with store.connect() as connection:
            versions = await _versions_of(connection, dialogue_id)
        if not versions:
            raise PublishingError(f"there is no dialogue {dialogue_id!r}{_known(await self.states())}")
        chosen = max(versions) if version is None else version
        if chosen not in versions:
            raise PublishingError(f"dialogue {dialogue_id!r} has no version {chosen} "
                                  f"(known: {', '.join(map(str, sorted(versions)))})")
        if await self.version(dialogue_id, chosen) is None:
            raise PublishingError(f"dialogue {dialogue_id!r} version {chosen} cannot be read any more "
                                  "(see the server's log); publish another version")
        return await self._set(dialogue_id, PUBLISHED, chosen, by)

    async def unpublish(self, dialogue_id: str, by: str | None = None) -> Publication:
        """Stop showing a dialogue to visitors who have not engaged with it (those who have
        finish their version). Raises ``PublishingError`` when it is not published."""
        store = self.app.store
        assert store is not None, "the app has not started"
        async with store.connect() as connection:
            row = (await connection.execute(sa.select(dialogue_publications).where(
                dialogue_publications.c.dialogue_id == dialogue_id))).first()
        if row is None or row.status != PUBLISHED:
            raise PublishingError(f"dialogue {dialogue_id!r} is not published{_known(await self.states())}")
        return await self._set(dialogue_id, UNPUBLISHED, row.version, by)

    async def _set(self, dialogue_id: str, status: str, version: int, by: str | None) -> Publication:
        result: list[Publication] = []

        async def write(connection: Any) -> None:
            exists = (await connection.execute(sa.select(dialogue_publications.c.dialogue_id).where(
                dialogue_publications.c.dialogue_id == dialogue_id))).first() is not None
            result[:] = [await _write(connection, dialogue_id, status, version, utcnow(), by, insert=not exists)]

        await self._retrying(write)
        log.info("%s %s version %d (by %s)", status, dialogue_id, version, by or "-")
        await self.refresh(force=True)
        return result[0]

    async def states(self) -> list[DialogueState]:
        """Every dialogue known (in the files or the database): its status and versions, by id."""
        store = self.app.store
        assert store is not None, "the app has not started"
        async with store.connect() as connection:
            versions: dict[str, list[int]] = {}
            for row in await connection.execute(sa.select(dialogue_versions.c.dialogue_id, dialogue_versions.c.version)):
                versions.setdefault(row.dialogue_id, []).append(row.version)
            rows = {row.dialogue_id: row for row in await connection.execute(sa.select(dialogue_publications))}
        now = utcnow()
        states = []
        for dialogue_id in sorted(set(versions) | set(self.app.dialogue_files) | set(rows)):
            row = rows.get(dialogue_id)
            known = sorted(set(versions.get(dialogue_id, [])) | ({self.app.dialogue_files[dialogue_id].version}
                                                                  if dialogue_id in self.app.dialogue_files else set()))
            status = row.status if row is not None else DRAFT
            published = row.version if status == PUBLISHED else None
            shown = (await self.version(dialogue_id, published) if published is not None else None) \
                or self.app.dialogue_files.get(dialogue_id) \
                or (await self.version(dialogue_id, known[-1]) if known else None)
            states.append(DialogueState(
                dialogue_id, shown.name if shown else dialogue_id, status, published, known[-1] if known else 0,
                tuple(known), dialogue_id in self.app.dialogue_files, shown.priority if shown else None,
                status == PUBLISHED and shown is not None and shown.live(now),
                utc(row.changed_at) if row is not None else None, row.changed_by if row is not None else None))
        return states

    async def _retrying(self, work: Any) -> None:
        """Run ``await work(connection)`` in a transaction; once more when another process wrote
        the same row at the same moment (two servers starting together)."""
        store = self.app.store
        assert store is not None, "the app has not started"
        for attempt in range(3):
            try:
                async with store.transaction() as connection:
                    await work(connection)
                return
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise


async def _write(connection: Any, dialogue_id: str, status: str, version: int, now: dt.datetime,
                 by: str | None, insert: bool = False) -> Publication:
    values = {"status": status, "version": version, "changed_at": now, "changed_by": (by or "")[:200] or None}
    if insert:
        await connection.execute(sa.insert(dialogue_publications).values(dialogue_id=dialogue_id, **values))
    else:
        await connection.execute(sa.update(dialogue_publications).where(
            dialogue_publications.c.dialogue_id == dialogue_id).values(**values))
    return Publication(dialogue_id, status, version, now, values["changed_by"])


async def _versions_of(connection: Any, dialogue_id: str) -> set[int]:
    return set((await connection.execute(sa.select(dialogue_versions.c.version).where(
        dialogue_versions.c.dialogue_id == dialogue_id))).scalars())


async def _definition_of(connection: Any, dialogue_id: str, version: int) -> Any:
    return (await connection.execute(sa.select(dialogue_versions.c.definition).where(
        dialogue_versions.c.dialogue_id == dialogue_id, dialogue_versions.c.version == version))).scalar()


def _known(states: list[DialogueState]) -> str:
    return f" (known: {', '.join(state.id for state in states)})" if states else " (no dialogue is known)"


def dialogue_definition(dialogue: Dialogue) -> dict[str, Any]:
    """The dialogue as data (the form ``parse_dialogue`` reads), as ``dialogue_versions`` stores it."""
    return {
        "id": dialogue.id, "name": dialogue.name, "version": dialogue.version, "priority": dialogue.priority,
        "targeting": _plain(dialogue.targeting), "response_delay": dialogue.response_delay,
        **({"starts": dialogue.starts.isoformat()} if dialogue.starts else {}),
        **({"ends": dialogue.ends.isoformat()} if dialogue.ends else {}),
        # Only when not English alone, so definitions stored before dialogues had languages compare equal.
        **({"languages": list(dialogue.languages), "default_language": dialogue.default_language}
           if dialogue.languages != ("en",) else {}),
        "cards": [{"id": card.id, "type": card.type, **({"next": card.next} if card.next else {}),
                   **_plain(card.options)} for card in dialogue.cards],
    }


def _plain(value: Any) -> Any:
    """``value`` with mappings and sequences as plain dicts and lists (storable as JSON)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


# The functions other plugins (the admin console) call: the same doors as the command line's.

async def publish(app: Chinwag, dialogue_id: str, version: int | None = None, by: str | None = None) -> Publication:
    """Publish a dialogue's version (default: its newest) for every process (``Publisher.publish``)."""
    return await app.publisher.publish(dialogue_id, version, by)


async def unpublish(app: Chinwag, dialogue_id: str, by: str | None = None) -> Publication:
    """Stop showing a dialogue to visitors who have not engaged with it (``Publisher.unpublish``)."""
    return await app.publisher.unpublish(dialogue_id, by)


async def publication_states(app: Chinwag) -> list[DialogueState]:
    """Every dialogue known, with its status and versions (``Publisher.states``)."""
    return await app.publisher.states()

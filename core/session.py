"""One visitor's conversation across connections: load state, run the engine, save, emit events.

The database holds the truth. A connection keeps a ``Conversation`` as a cache, and every save
(through ``turn_writer``, which commits concurrent turns together) checks the session's ``revision``, so a visitor may reconnect to any server process, or answer
in two tabs, without a turn being lost or played twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from .crm import PERSON_PREFIX
from .crm_delivery import event_payload
from .crm_records import recognise, recognise_by_cookie
from .dialogue import Dialogue, parse_dialogue
from .engine import Engine, EngineError, State, Turn
from .events import ChatEvent, UnknownEventType, new_event_key
from .outbox import outbox_row
from .protocol import PROTOCOL_VERSION, Answer, Hello, scrub_surrogates
from .store import Store, utcnow
from .time_zones import known_time_zone
from .tables import dialogue_versions, sessions, transcript, visitors
from .turn_writer import SessionConflict, TurnRecord

if TYPE_CHECKING:
    from .app import Chinwag

log = logging.getLogger("chinwag.session")

MAX_EFFECTS_PER_TURN = 8
TRANSCRIPT_FRAMES = frozenset({"message", "question", "answered"})


@attrs.define
class Conversation:
    """A connection's view of its visitor and session (a cache of the database rows)."""

    visitor_id: str
    lead: dict[str, Any]
    visit: dict[str, Any]
    session_id: str | None = None
    dialogue: Dialogue | None = None
    state: State | None = None
    revision: int = 0

    def event(self, name: str, data: Mapping[str, Any]) -> ChatEvent:
        """An activity event of this conversation."""
        assert self.dialogue is not None and self.session_id is not None
        return ChatEvent(new_event_key(), name, self.session_id, self.visitor_id, self.dialogue.id, self.dialogue.name,
                         self.visit.get("visit.page_url"), dict(data), utcnow())


def new_id(prefix: str) -> str:
    """An unguessable id such as ``s_3kTz...``."""
    return f"{prefix}_{secrets.token_urlsafe(16)}"


class Conversations:
    """The session service: the only place that turns frames into engine calls and rows."""

    def __init__(self, app: Chinwag) -> None:
        self.app = app
        self._engines: dict[tuple[str, int], Engine] = {}

    @property
    def store(self) -> Store:
        """The app's store (open once the app has started)."""
        assert self.app.store is not None, "the app has not started"
        return self.app.store

    # -- dialogue versions ---------------------------------------------------------------------------

    async def publish(self) -> None:
        """Record the definition of every loaded dialogue version (at startup)."""
        async with self.store.transaction() as connection:
            existing = {(row.dialogue_id, row.version): row.definition
                        for row in await connection.execute(sa.select(dialogue_versions))}
            for dialogue in self.app.dialogues.values():
                definition = _definition(dialogue)
                key = (dialogue.id, dialogue.version)
                if key not in existing:
                    await connection.execute(sa.insert(dialogue_versions).values(
                        dialogue_id=dialogue.id, version=dialogue.version, definition=definition, published_at=utcnow()))
                elif existing[key] != definition:
                    log.warning("dialogue %r changed without a new version: visitors mid-way get the change", dialogue.id)
                    await connection.execute(sa.update(dialogue_versions).where(
                        dialogue_versions.c.dialogue_id == dialogue.id, dialogue_versions.c.version == dialogue.version,
                    ).values(definition=definition))

    async def _engine(self, dialogue_id: str, version: int) -> Engine | None:
        key = (dialogue_id, version)
        if key not in self._engines:
            current = self.app.dialogues.get(dialogue_id)
            if current is not None and current.version == version:
                dialogue = current
            else:
                async with self.store.connect() as connection:
                    definition = (await connection.execute(sa.select(dialogue_versions.c.definition).where(
                        dialogue_versions.c.dialogue_id == dialogue_id, dialogue_versions.c.version == version))).scalar()
                if definition is None:
                    return None
                dialogue, _ = parse_dialogue(definition, f"<{dialogue_id} v{version}>")
                if dialogue is None:
                    return None
            # The theme's response delay (a widget_theme setting) is the default typing delay.
            self._engines[key] = Engine(dialogue, self.app.cards, self.app.theme["options"]["responseDelay"])
        return self._engines[key]

    # -- hello ---------------------------------------------------------------------------------------

    async def hello(self, hello: Hello) -> tuple[Conversation, list[dict[str, Any]]]:
        """Identify the visitor, resume or start a session, and return the frames to send."""
        visit = {"visit.page_url": hello.page_url, "visit.referrer": hello.referrer,
                 "visit.locale": hello.locale, "visit.timezone": known_time_zone(hello.timezone), **hello.attributes}
        conversation = await self._visitor(hello.visitor, visit)
        if hello.tracking:
            await self._recognise_by_cookie(conversation, hello.tracking)
        if hello.session and await self._resume(conversation, hello.session):
            return conversation, [self._welcome(conversation, await self._transcript(conversation.session_id))]
        if await self._resume_active(conversation):
            return conversation, [self._welcome(conversation, await self._transcript(conversation.session_id))]
        dialogue = await self._choose(conversation)
        if dialogue is None:
            return conversation, [self._welcome(conversation, [])]
        engine = await self._engine(dialogue.id, dialogue.version)
        assert engine is not None
        conversation.session_id = new_id("s")
        conversation.dialogue = engine.dialogue
        turn = engine.start(conversation.lead, conversation.visit)
        turn = await self._fulfil(conversation, engine, turn)
        frames = await self._save(conversation, turn, new=True)
        return conversation, [self._welcome(conversation, []), *frames]

    async def _visitor(self, visitor_id: str | None, visit: dict[str, Any]) -> Conversation:
        now = utcnow()
        async with self.store.transaction() as connection:
            if visitor_id:
                row = (await connection.execute(sa.select(visitors.c.lead).where(visitors.c.id == visitor_id))).first()
                if row is not None:
                    await connection.execute(sa.update(visitors).where(visitors.c.id == visitor_id).values(last_seen_at=now))
                    return Conversation(visitor_id, scrub_surrogates(dict(row.lead)), visit)
            visitor_id = new_id("v")  # unknown ids are replaced, never trusted
            await connection.execute(sa.insert(visitors).values(id=visitor_id, created_at=now, last_seen_at=now, lead={}))
        return Conversation(visitor_id, {}, visit)

    async def _recognise_by_cookie(self, conversation: Conversation, tracking: Mapping[str, str]) -> None:
        """An anonymous visitor whose page carries a CRM's tracking cookie, looked up once: what the
        CRM knows fills ``person.*`` and ``company.*`` before the first card is played."""
        if not len(self.app.crm_connectors) or conversation.lead.get("lead.email") or any(
                name.startswith(PERSON_PREFIX) for name in conversation.lead):
            return
        known = {name: value for name, value in (await recognise_by_cookie(self.app, tracking)).items()
                 if name.startswith(PERSON_PREFIX) or name not in conversation.lead}
        if known:
            conversation.lead.update(known)
            async with self.store.transaction() as connection:
                await connection.execute(sa.update(visitors).where(visitors.c.id == conversation.visitor_id)
                                         .values(lead=conversation.lead))

    async def _resume(self, conversation: Conversation, session_id: str) -> bool:
        async with self.store.connect() as connection:
            row = (await connection.execute(sa.select(sessions).where(
                sessions.c.id == session_id, sessions.c.visitor_id == conversation.visitor_id))).first()
        return row is not None and await self._load(conversation, row)

    async def _resume_active(self, conversation: Conversation) -> bool:
        """A visitor mid-way through a dialogue (say, in another tab) continues it."""
        async with self.store.connect() as connection:
            row = (await connection.execute(sa.select(sessions).where(
                sessions.c.visitor_id == conversation.visitor_id, sessions.c.status == "active",
            ).order_by(sessions.c.updated_at.desc()).limit(1))).first()
        return row is not None and await self._load(conversation, row)

    async def _load(self, conversation: Conversation, row: Any) -> bool:
        state = State.from_json(row.state)
        engine = await self._engine(row.dialogue_id, row.dialogue_version)
        unpublished = row.dialogue_id not in self.app.dialogues
        if engine is None or (unpublished and not state.engaged and state.status == "active"):
            return False  # an unpublished dialogue nobody engaged with disappears
        conversation.session_id, conversation.dialogue = row.id, engine.dialogue
        conversation.state, conversation.revision = state, row.revision
        return True

    async def _choose(self, conversation: Conversation) -> Dialogue | None:
        """The highest-priority dialogue this visitor has not completed (targeting comes later)."""
        if not self.app.config.chat_enabled:
            return None
        async with self.store.connect() as connection:
            done = set((await connection.execute(sa.select(sessions.c.dialogue_id).where(
                sessions.c.visitor_id == conversation.visitor_id, sessions.c.status == "completed"))).scalars())
        candidates = [d for d in self.app.dialogues.values() if d.id not in done]
        return min(candidates, key=lambda d: (d.priority, d.id), default=None)

    def _welcome(self, conversation: Conversation, history: list[dict[str, Any]]) -> dict[str, Any]:
        state, dialogue = conversation.state, conversation.dialogue
        return {
            "type": "welcome", "protocol": PROTOCOL_VERSION, "visitor": conversation.visitor_id,
            "session": conversation.session_id,
            "dialogue": {"id": dialogue.id, "name": dialogue.name} if dialogue else None,
            "status": state.status if state else "none",
            "awaiting": state.awaiting if state else None,
            "transcript": history, "theme": self.app.theme,
            # The zone accepted from hello; null when it was missing or unknown (meeting times are
            # then shown in the agent's zone, which the slots question names).
            "timezone": conversation.visit.get("visit.timezone"),
        }

    async def _transcript(self, session_id: str | None) -> list[dict[str, Any]]:
        async with self.store.connect() as connection:
            frames = (await connection.execute(sa.select(transcript.c.frame).where(
                transcript.c.session_id == session_id).order_by(transcript.c.id))).scalars()
            return [{**frame, "delay": 0} if "delay" in frame else frame for frame in frames]

    async def resync(self, conversation: Conversation) -> list[dict[str, Any]]:
        """Reload the session from the database and return a fresh ``welcome``."""
        conversation.lead = await self._lead(conversation.visitor_id)
        await self._resume(conversation, conversation.session_id or "")
        return [self._welcome(conversation, await self._transcript(conversation.session_id))]

    # -- answers -------------------------------------------------------------------------------------

    async def answer(self, conversation: Conversation, answer: Answer) -> list[dict[str, Any]]:
        """Play the visitor's answer; raise ``EngineError`` when it answers no open question."""
        if conversation.state is None or conversation.dialogue is None:
            raise EngineError("not_asked", "there is no open question")
        for attempt in (1, 2):
            engine = await self._engine(conversation.dialogue.id, conversation.dialogue.version)
            assert engine is not None
            known = await self._recognise(conversation, answer.value)
            try:
                turn = engine.answer(conversation.state, {**conversation.lead, **known}, conversation.visit,
                                     answer.question, answer.value)
            except EngineError:
                if attempt == 2:  # another tab's answer closed this question: the client must resync
                    raise SessionConflict() from None
                raise
            if not turn.events and turn.state is conversation.state:
                return turn.frames  # an invalid answer: nothing to store
            if known and turn.lead_updates.get("lead.email"):  # the email was taken: so is what CRMs know
                turn.lead_updates = {**known, **turn.lead_updates}
            turn = await self._fulfil(conversation, engine, turn)
            try:
                return await self._save(conversation, turn)
            except SessionConflict:
                if attempt == 2 or not await self._resume(conversation, conversation.session_id or ""):
                    raise
                conversation.lead = await self._lead(conversation.visitor_id)
        raise AssertionError("unreachable")

    async def _recognise(self, conversation: Conversation, value: Any) -> dict[str, Any]:
        """What CRMs know about the email this answer gives, if it answers an email capture.

        Passed to the engine with the lead, so the same dialogue's next cards already see the
        ``person.*`` and ``company.*`` fields (a company field the visitor gave stays theirs).
        """
        if not len(self.app.crm_connectors) or not isinstance(value, str) or "@" not in value:
            return {}
        assert conversation.state is not None and conversation.dialogue is not None
        card_id = conversation.state.card
        if card_id is None or conversation.dialogue.card(card_id).get("field") != "lead.email":
            return {}
        known = await recognise(self.app, value)
        return {name: item for name, item in known.items() if name.startswith(PERSON_PREFIX) or name not in conversation.lead}

    async def _fulfil(self, conversation: Conversation, engine: Engine, turn: Turn) -> Turn:
        """Carry out the effects cards ask for, feeding each result back to the engine."""
        frames, turn_events, updates = list(turn.frames), list(turn.events), dict(turn.lead_updates)
        for _ in range(MAX_EFFECTS_PER_TURN):
            effect = turn.effect
            if effect is None:
                break
            card = engine.dialogue.card(turn.state.card)  # type: ignore[arg-type]
            lead = {**conversation.lead, **updates}
            result = await self.app.cards[card.type].fulfil(card, effect, _EffectContext(conversation, turn.state, lead), self.app)
            turn = engine.resume(turn.state, lead, conversation.visit, result)
            frames += turn.frames
            turn_events += turn.events
            updates.update(turn.lead_updates)
        return Turn(turn.state, frames, turn_events, updates)

    async def _lead(self, visitor_id: str) -> dict[str, Any]:
        async with self.store.connect() as connection:
            lead = (await connection.execute(sa.select(visitors.c.lead).where(visitors.c.id == visitor_id))).scalar_one()
        return scrub_surrogates(dict(lead))

    # -- saving --------------------------------------------------------------------------------------

    async def _save(self, conversation: Conversation, turn: Turn, new: bool = False) -> list[dict[str, Any]]:
        """Store the turn (batched with others, see ``turn_writer``), then notify observers.

        Returns the frames to send; raises ``SessionConflict`` when the session changed elsewhere.
        """
        now = utcnow()
        chat_events = [conversation.event(name, data) for name, data in turn.events]
        event_types = self.app.event_types
        unknown = sorted({event.name for event in chat_events if event.name not in event_types})
        if unknown:
            raise UnknownEventType(f"dialogue {conversation.dialogue.id!r} emitted {', '.join(unknown)}, "  # type: ignore[union-attr]
                                   "which no plugin registered (register_event_types)")
        state = turn.state.to_json()
        new_session = None
        if new:
            new_session = {
                "id": conversation.session_id, "visitor_id": conversation.visitor_id,
                "dialogue_id": conversation.dialogue.id, "dialogue_version": conversation.dialogue.version,  # type: ignore[union-attr]
                "status": turn.state.status, "state": state, "revision": 1,
                "page_url": conversation.visit.get("visit.page_url"), "created_at": now, "updated_at": now}
        lead = {**conversation.lead, **turn.lead_updates} if turn.lead_updates else conversation.lead
        assert self.app.turn_writer is not None, "the app has not started"
        await self.app.turn_writer.write(TurnRecord(
            session_id=conversation.session_id, visitor_id=conversation.visitor_id,  # type: ignore[arg-type]
            revision=conversation.revision, state=state, status=turn.state.status, now=now, new_session=new_session,
            transcript=tuple({"session_id": conversation.session_id, "frame": frame, "created_at": now}
                             for frame in turn.frames if frame["type"] in TRANSCRIPT_FRAMES),
            events=tuple(event.row() for event in chat_events),
            lead=lead if turn.lead_updates else None,
            outbox=tuple(self._outbox_rows(chat_events, lead, turn.lead_updates, now)),
            release=self._releases(lead, turn.lead_updates),
        ))
        conversation.state, conversation.revision = turn.state, 1 if new else conversation.revision + 1
        conversation.lead.update(turn.lead_updates)
        self.app.events.dispatch(chat_events)
        return turn.frames + [event.client_frame() for event in chat_events if event_types[event.name].client]

    def _outbox_rows(self, chat_events: list[ChatEvent], lead: dict[str, Any], updates: dict[str, Any],
                     now: dt.datetime) -> list[dict[str, Any]]:
        """One outbox row per event and consumer that wants it, keyed by the event's id and kept in
        order per visitor; held when the consumer waits for something the visitor has not given
        yet (``CrmDelivery.holds``)."""
        consumers = self.app.outbox_consumers
        if not len(consumers):
            return []
        rows = []
        for event in chat_events:
            payload = None
            for consumer in consumers:
                if consumer.wants(event):
                    payload = payload or event_payload(event, lead, updates)
                    held = bool(getattr(consumer, "holds", None) and consumer.holds(lead))
                    rows.append(outbox_row(consumer.name, event.key, event.name, payload, event.visitor_id, now,
                                           held=held))
        return rows

    def _releases(self, lead: dict[str, Any], updates: dict[str, Any]) -> tuple[tuple[str, dict[str, Any]], ...]:
        """The consumers whose held rows of this visitor the turn releases, with what they take on."""
        if not updates:
            return ()
        releases = []
        for consumer in self.app.outbox_consumers:
            released_by = getattr(consumer, "released_by", None)
            update = released_by(lead, updates) if released_by is not None else None
            if update is not None:
                releases.append((consumer.name, update))
        return tuple(releases)


@attrs.frozen
class _EffectContext:
    """What a card's ``fulfil`` may read about the conversation."""

    conversation: Conversation
    state: State
    lead: Mapping[str, Any]

    @property
    def session_id(self) -> str | None:
        """The session's id."""
        return self.conversation.session_id

    @property
    def visit(self) -> Mapping[str, Any]:
        """The visit's attributes (page URL, time zone...)."""
        return self.conversation.visit


def _definition(dialogue: Dialogue) -> dict[str, Any]:
    """The dialogue as data (the form ``parse_dialogue`` reads)."""
    return {
        "id": dialogue.id, "name": dialogue.name, "version": dialogue.version, "priority": dialogue.priority,
        "targeting": _plain(dialogue.targeting), "response_delay": dialogue.response_delay,
        "cards": [{"id": card.id, "type": card.type, **({"next": card.next} if card.next else {}),
                   **_plain(card.options)} for card in dialogue.cards],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value

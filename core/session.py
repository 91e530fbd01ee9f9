"""One visitor's conversation across connections: load state, run the engine, save, emit events.

The database holds the truth. A connection keeps a ``Conversation`` as a cache, and every save
(through ``turn_writer``, which commits concurrent turns together) checks the session's ``revision``, so a visitor may reconnect to any server process, or answer
in two tabs, without a turn being lost or played twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from .abuse_limits import BLOCKED_EMAIL_TEXT
from .crm import PERSON_PREFIX
from .crm_delivery import event_payload
from .crm_records import recognise, recognise_by_cookie
from .dialogue import Dialogue
from .engine import Engine, EngineError, State, Turn
from .events import ChatEvent, UnknownEventType, new_event_key
from .internal_visits import internal_reason
from .languages.locales import language_of, negotiate, preferences
from .languages.state import language_settings
from .outbox import outbox_row
from .protocol import PROTOCOL_VERSION, Answer, FrameError, Hello, Start, scrub_surrogates
from .random_ids import token
from .store import Store, utc, utcnow
from .time_zones import known_time_zone
from .tables import sessions, transcript, visitor_visits, visitors
from .targeting.selection import Targeter
from .targeting.state import TargetingState
from .targeting.visit import VISIT_ATTRIBUTES, page_attributes, visit_of
from .turn_writer import SessionConflict, TurnRecord, VisitRecord

if TYPE_CHECKING:
    from .app import Chinwag

log = logging.getLogger("chinwag.session")

MAX_EFFECTS_PER_TURN = 8
TRANSCRIPT_FRAMES = frozenset({"message", "question", "answered"})
# Visit attributes the server sets from the page and the request: ``start.attributes`` may not change them.
SERVER_VISIT_NAMES = frozenset({"visit.page_url", "visit.referrer", "visit.locale", "visit.language", "visit.timezone",
                                *(attribute.name for attribute in VISIT_ATTRIBUTES)})
CATALOG_MINOR = 2  # the protocol minor version from which the welcome carries the language and catalog


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
    minor: int = 0  # the protocol minor version spoken on this connection
    visit_started: dt.datetime | None = None
    pending: Dialogue | None = None  # resolved, waiting for its behaviour trigger in the page
    page_visit: dict[str, Any] = attrs.field(factory=dict)  # the visit as hello gave it, before any start
    preferences: tuple[str, ...] = ()  # the visitor's locales, best first (hello.locale, then Accept-Language)
    unsaved_visit: VisitRecord | None = None  # hello's visitor rows, stored with its first turn or alone
    internal: str | None = None  # why this is the team's own conversation (``internal_visit``): no events kept

    def take_unsaved_visit(self) -> VisitRecord | None:
        """Hello's visitor rows not stored yet (a new visitor with the lead known by now), once."""
        visit, self.unsaved_visit = self.unsaved_visit, None
        if visit is not None and visit.lead is not None:
            visit = attrs.evolve(visit, lead=dict(self.lead))
        return visit

    def event(self, name: str, data: Mapping[str, Any]) -> ChatEvent:
        """An activity event of this conversation."""
        assert self.dialogue is not None and self.session_id is not None
        return ChatEvent(new_event_key(), name, self.session_id, self.visitor_id, self.dialogue.id, self.dialogue.name,
                         self.visit.get("visit.page_url"), dict(data), utcnow())


def new_id(prefix: str) -> str:
    """An unguessable id such as ``s_3kTz...``."""
    return f"{prefix}_{token()}"


class Conversations:
    """The session service: the only place that turns frames into engine calls and rows."""

    def __init__(self, app: Chinwag) -> None:
        self.app = app
        self.targeter = Targeter(app)
        self._engines: dict[tuple[str, int], Engine] = {}

    @property
    def store(self) -> Store:
        """The app's store (open once the app has started)."""
        assert self.app.store is not None, "the app has not started"
        return self.app.store

    # -- dialogue versions ---------------------------------------------------------------------------

    async def _engine(self, dialogue_id: str, version: int) -> Engine | None:
        """The engine of one version of a dialogue (built once; an old version from its stored
        definition, so a visitor who engaged with it finishes it)."""
        key = (dialogue_id, version)
        if key not in self._engines:
            dialogue = await self.app.publisher.version(dialogue_id, version)
            if dialogue is None:
                return None
            # The theme's response delay (a widget_theme setting) is the default typing delay.
            self._engines[key] = Engine(dialogue, self.app.cards, self.app.theme["options"]["responseDelay"],
                                        language_settings(self.app).catalog)
        return self._engines[key]

    # -- hello ---------------------------------------------------------------------------------------

    async def hello(self, hello: Hello, headers: Mapping[str, str] | None = None) -> tuple[Conversation, list[dict[str, Any]]]:
        """Identify the visitor, then continue their engaged dialogue, or resume or start the one
        targeting chooses for this page (``chinwag.targeting.selection``); return the frames to send.

        ``headers`` are the WebSocket request's (lower-case names): the device type, the country
        and region the integrator's proxy sets and, after ``hello.locale``, the visitor's languages
        (``Accept-Language``) are read from them.

        What the page load stores about the visitor goes to the group commit (``turn_writer``)
        with the turn that starts a dialogue, or alone: the frames are returned once it is stored.
        """
        conversation, frames = await self._hello(hello, headers)
        visit = conversation.take_unsaved_visit()
        if visit is not None:  # no turn was stored with it
            assert self.app.turn_writer is not None, "the app has not started"
            await self.app.turn_writer.write(visit)
        return conversation, frames

    async def _hello(self, hello: Hello, headers: Mapping[str, str] | None) -> tuple[Conversation, list[dict[str, Any]]]:
        await self.app.publisher.refresh()  # what is published may have changed in another process
        settings = self.app.plugin_state(TargetingState).settings
        locales = preferences(hello.locale, (headers or {}).get("accept-language"))
        # The page's own attributes first: what the server sets from the frame and the request wins
        # (a page cannot change the address stored on its session, nor its device or country).
        visit = {**hello.attributes, "visit.page_url": hello.page_url, "visit.referrer": hello.referrer,
                 "visit.locale": locales[0] if locales else None,
                 "visit.language": language_of(locales[0]) if locales else None,
                 "visit.timezone": known_time_zone(hello.timezone),
                 **page_attributes(hello.page_url, headers or {}, settings)}
        conversation, history = await self._visitor(hello.visitor, visit)
        conversation.minor = hello.minor
        conversation.preferences = locales
        conversation.internal = await internal_reason(self.app, headers)
        conversation.page_visit = dict(conversation.visit)
        if hello.tracking:
            await self._recognise_by_cookie(conversation, hello.tracking)
        named = next((row for row in history if row.id == hello.session), None)
        engaged = [row for row in history if row.status == "active" and State.from_json(row.state).engaged]
        engaged.sort(key=lambda row: (row is not named, -utc(row.updated_at).timestamp()))  # type: ignore[union-attr]
        for row in engaged:
            if await self._load(conversation, row):  # an engaged dialogue continues on every page
                return conversation, [self._welcome(conversation, await self._transcript(conversation.session_id))]
        finished = {row.dialogue_id for row in history if row.status == "completed"}
        dialogue = await self.targeter.choose(conversation.visitor_id, conversation.lead, conversation.visit, finished,
                                              can_trigger=conversation.minor >= 1)
        if dialogue is not None:
            if await self._resume_shown(conversation, dialogue, history):
                return conversation, [self._welcome(conversation, await self._transcript(conversation.session_id))]
            if self.targeter.targeting(dialogue).trigger:  # resolved, not shown until the page says so
                conversation.pending = dialogue
                return conversation, [self._pending_welcome(conversation, dialogue)]
            return conversation, await self._start(conversation, dialogue)
        if named is not None and named.status == "completed" and await self._load(conversation, named):
            return conversation, [self._welcome(conversation, await self._transcript(conversation.session_id))]
        return conversation, [self._welcome(conversation, [])]

    async def _resume_shown(self, conversation: Conversation, dialogue: Dialogue, history: list[Any]) -> bool:
        """Resume the session of ``dialogue`` shown to this visitor before and never answered (a
        trigger met in an earlier visit carries over: it shows at once)."""
        shown = next((row for row in history if row.status == "active" and row.dialogue_id == dialogue.id
                      and row.dialogue_version == dialogue.version), None)
        return shown is not None and await self._load(conversation, shown)

    def _pending_welcome(self, conversation: Conversation, dialogue: Dialogue) -> dict[str, Any]:
        """(1.1) The welcome for a dialogue waiting for its behaviour trigger: the rules for the
        page to evaluate, and how long the visit has lasted (for ``time_on_site``)."""
        started = conversation.visit_started or utcnow()
        return {**self._welcome(conversation, []), "status": "pending",
                "dialogue": {"id": dialogue.id, "name": dialogue.name},
                "trigger": {"rules": dict(self.targeter.targeting(dialogue).trigger),
                            "site_seconds": round(max(0.0, (utcnow() - started).total_seconds()), 1)}}

    async def trigger(self, conversation: Conversation, dialogue_id: str) -> list[dict[str, Any]]:
        """(1.1) The page says the pending dialogue's trigger fired: show it (its ``triggered``
        event is stored now, not when it was resolved)."""
        pending = conversation.pending
        if pending is None or pending.id != dialogue_id or conversation.session_id is not None:
            raise FrameError("not_pending", f"dialogue {dialogue_id!r} is not waiting for a trigger on this page")
        conversation.pending = None
        if await self._resume_shown(conversation, pending, await self._history(conversation.visitor_id)):
            return [self._welcome(conversation, await self._transcript(conversation.session_id))]  # another tab was first
        return await self._start(conversation, pending)

    async def start(self, conversation: Conversation, start: Start) -> list[dict[str, Any]]:
        """(1.1) The page asks for a dialogue (``window.chinwag.start``): start a new session of it,
        whatever its targeting, priority and the once-per-visitor rule say.

        A session of that dialogue the visitor has not finished, shown on this page or engaged
        with anywhere, is shown again instead of a second one starting (a second click on the
        page's button). Another dialogue on the page gives way; an engaged one is kept as it is and
        continues on a later page once this one has ended or is left unanswered. ``start.attributes``
        are added to the visit for the started session; those the server derives are refused.
        """
        await self.app.publisher.refresh()
        dialogue = self.app.dialogues.get(start.dialogue)
        if dialogue is None:
            if start.dialogue in self.app.dialogue_files:
                raise FrameError("not_running", f"dialogue {start.dialogue[:100]!r} is not published")
            raise FrameError("unknown_dialogue", f"there is no dialogue {start.dialogue[:100]!r}")
        derived = sorted(SERVER_VISIT_NAMES.intersection(start.attributes))
        if derived:
            raise FrameError("bad_frame", f"start.attributes cannot set {', '.join(derived)}: the server sets it")
        if await self._resume_running(conversation, dialogue):
            conversation.pending = None
            return [self._welcome(conversation, await self._transcript(conversation.session_id))]
        if not dialogue.live(utcnow()):
            raise FrameError("not_running", f"dialogue {dialogue.id!r} runs only between its starts and ends dates")
        if not self.app.config.chat_enabled or await self.app.monthly_cap.reached():
            raise FrameError("chat_off", "chat is switched off for now")
        conversation.pending = None
        conversation.visit = {**conversation.page_visit, **start.attributes}
        return await self._start(conversation, dialogue)

    async def _resume_running(self, conversation: Conversation, dialogue: Dialogue) -> bool:
        """Load the visitor's unfinished session of ``dialogue`` that is shown on this connection
        or was engaged with (the most recent first); False when there is none."""
        history = [row for row in await self._history(conversation.visitor_id)
                   if row.dialogue_id == dialogue.id and row.status == "active"]
        running = [row for row in history if State.from_json(row.state).engaged
                   or (row.id == conversation.session_id and row.dialogue_version == dialogue.version)]
        running.sort(key=lambda row: (row.id != conversation.session_id, -utc(row.updated_at).timestamp()))
        for row in running:
            if await self._load(conversation, row):
                return True
        return False

    async def window_changed(self, conversation: Conversation, name: str) -> list[dict[str, Any]]:
        """(1.1) The visitor opened or closed the chat window: stored as an ``opened`` or
        ``closed`` event of the session."""
        if conversation.session_id is None or conversation.state is None or conversation.dialogue is None:
            raise FrameError("not_ready", "no dialogue is shown on this page")
        return await self._save(conversation, Turn(conversation.state, [], [(name, {})], {}))

    async def _start(self, conversation: Conversation, dialogue: Dialogue) -> list[dict[str, Any]]:
        """Start ``dialogue`` in a new session: the welcome and the first cards' frames."""
        engine = await self._engine(dialogue.id, dialogue.version)
        assert engine is not None
        conversation.session_id = new_id("s")
        conversation.dialogue = engine.dialogue
        conversation.state, conversation.revision = None, 0
        language = negotiate(conversation.preferences, engine.dialogue.languages, engine.dialogue.default_language)
        turn = engine.start(conversation.lead, conversation.visit, language)
        turn = await self._fulfil(conversation, engine, turn)
        frames = await self._save(conversation, turn, new=True)
        return [self._welcome(conversation, []), *frames]

    async def _visitor(self, visitor_id: str | None, visit: dict[str, Any]) -> tuple[Conversation, list[Any]]:
        """The visitor (a new one when the id is unknown) and their sessions, with this page load
        counted as part of a visit: ``visit.count`` and ``visit.returning`` are added to ``visit``.

        Only reads: what the page load changes waits in ``Conversation.unsaved_visit`` for the
        group commit (``hello``).
        """
        now = utcnow()
        settings = self.app.plugin_state(TargetingState).settings
        row, history = None, []
        if visitor_id:
            async with self.store.connect() as connection:
                row = (await connection.execute(
                    sa.select(visitors.c.lead, visitors.c.last_seen_at, visitor_visits.c.visits, visitor_visits.c.started_at)
                    .select_from(visitors.outerjoin(visitor_visits, visitor_visits.c.visitor_id == visitors.c.id))
                    .where(visitors.c.id == visitor_id))).first()
                if row is not None:  # every session of the visitor (a handful: one per dialogue shown to them)
                    history = list(await connection.execute(sa.select(sessions).where(sessions.c.visitor_id == visitor_id)))
        if row is not None:
            conversation = Conversation(visitor_id, scrub_surrogates(dict(row.lead)), visit)  # type: ignore[arg-type]
            count, started, new_visit = visit_of(row.visits, row.started_at, row.last_seen_at, now, settings)
            conversation.unsaved_visit = VisitRecord(conversation.visitor_id, now, None, count, new_visit)
        else:
            conversation = Conversation(new_id("v"), {}, visit)  # unknown ids are replaced, never trusted
            count, started, _ = visit_of(None, None, None, now, settings)
            conversation.unsaved_visit = VisitRecord(conversation.visitor_id, now, {}, count, True)
        visit.update({"visit.count": count, "visit.returning": count > 1})
        conversation.visit_started = started
        return conversation, history

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
            if conversation.unsaved_visit is not None and conversation.unsaved_visit.lead is not None:
                return  # a new visitor: stored with this lead by hello
            async with self.store.transaction() as connection:
                await connection.execute(sa.update(visitors).where(visitors.c.id == conversation.visitor_id)
                                         .values(lead=conversation.lead))

    async def _resume(self, conversation: Conversation, session_id: str) -> bool:
        async with self.store.connect() as connection:
            row = (await connection.execute(sa.select(sessions).where(
                sessions.c.id == session_id, sessions.c.visitor_id == conversation.visitor_id))).first()
        return row is not None and await self._load(conversation, row)

    async def _history(self, visitor_id: str) -> list[Any]:
        """Every session of the visitor (a handful: one per dialogue shown to them)."""
        async with self.store.connect() as connection:
            return list(await connection.execute(sa.select(sessions).where(sessions.c.visitor_id == visitor_id)))

    async def _load(self, conversation: Conversation, row: Any) -> bool:
        state = State.from_json(row.state)
        engine = await self._engine(row.dialogue_id, row.dialogue_version)
        unpublished = row.dialogue_id not in self.app.dialogues
        if engine is None or (unpublished and not state.engaged and state.status == "active"):
            return False  # an unpublished dialogue nobody engaged with disappears
        conversation.session_id, conversation.dialogue = row.id, engine.dialogue
        conversation.state, conversation.revision = state, row.revision
        return True

    def _language(self, conversation: Conversation) -> str:
        """The language the conversation is in: its session's (kept across reconnects); for a
        dialogue waiting for its trigger, the one the visitor will get; with no dialogue, the
        catalog's best for the visitor."""
        if conversation.state is not None and conversation.dialogue is not None:
            return conversation.state.language or conversation.dialogue.default_language
        if conversation.pending is not None:
            return negotiate(conversation.preferences, conversation.pending.languages, conversation.pending.default_language)
        settings = language_settings(self.app)
        return negotiate(conversation.preferences, settings.catalog.languages, settings.default)

    def _welcome(self, conversation: Conversation, history: list[dict[str, Any]]) -> dict[str, Any]:
        state, dialogue = conversation.state, conversation.dialogue
        # (1.2) The language the texts are in, and the catalog of the widget's labels in it.
        language = self._language(conversation) if conversation.minor >= CATALOG_MINOR else None
        return {
            "type": "welcome", "protocol": PROTOCOL_VERSION, "minor": conversation.minor, "visitor": conversation.visitor_id,
            "session": conversation.session_id,
            "dialogue": {"id": dialogue.id, "name": dialogue.name} if dialogue else None,
            "books_meetings": bool(dialogue) and self._books_meetings(dialogue),
            "status": state.status if state else "none",
            "awaiting": state.awaiting if state else None,
            "transcript": history, "theme": self.app.theme,
            # The zone accepted from hello; null when it was missing or unknown (meeting times are
            # then shown in the agent's zone, which the slots question names).
            "timezone": conversation.visit.get("visit.timezone"),
            **({"language": language, "catalog": language_settings(self.app).catalog.entries(language)}
               if language is not None else {}),
        }

    def _books_meetings(self, dialogue: Dialogue) -> bool:
        """Whether a card of the dialogue books meetings (its type says ``books_meetings``)."""
        return any(getattr(self.app.cards.get(card.type), "books_meetings", False) for card in dialogue.cards)

    async def _transcript(self, session_id: str | None) -> list[dict[str, Any]]:
        """The session's frames so far, each with ``at`` (when it was stored, UTC) and no delay."""
        async with self.store.connect() as connection:
            rows = await connection.execute(sa.select(transcript.c.frame, transcript.c.created_at).where(
                transcript.c.session_id == session_id).order_by(transcript.c.id))
            return [{**frame, **({"delay": 0} if "delay" in frame else {}), "at": _iso_utc(created_at)}
                    for frame, created_at in rows]

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
        blocked = self.app.config.limits.blocked_domain(answer.value)
        if blocked is not None:  # refused before anything is looked up or stored
            message = language_settings(self.app).catalog.message(self._language(conversation), BLOCKED_EMAIL_TEXT,
                                                                  domain=blocked)
            return [{"type": "invalid", "question": answer.question, "message": message}]
        chosen_zone = known_time_zone(answer.timezone)
        if chosen_zone is not None:  # the visitor chose the zone they read meeting times in
            conversation.visit = {**conversation.visit, "visit.timezone": chosen_zone}
            conversation.page_visit = {**conversation.page_visit, "visit.timezone": chosen_zone}
        for attempt in (1, 2):
            version = (conversation.dialogue.id, conversation.dialogue.version)
            engine = self._engines.get(version) or await self._engine(*version)  # built once per version
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
            if turn.effect is not None:  # a card asked for the network (a meeting card's slots, a booking)
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
        # The team's own conversation keeps its transcript but no activity: no report, CRM or notification.
        kept = [] if conversation.internal else chat_events
        assert self.app.turn_writer is not None, "the app has not started"
        await self.app.turn_writer.write(TurnRecord(
            session_id=conversation.session_id, visitor_id=conversation.visitor_id,  # type: ignore[arg-type]
            revision=conversation.revision, state=state, status=turn.state.status, now=now, new_session=new_session,
            transcript=tuple({"session_id": conversation.session_id, "frame": frame, "created_at": now}
                             for frame in turn.frames if frame["type"] in TRANSCRIPT_FRAMES),
            visit=conversation.take_unsaved_visit(),
            events=tuple(event.row() for event in kept),
            lead=lead if turn.lead_updates else None,
            outbox=tuple(self._outbox_rows(kept, lead, turn.lead_updates, now)),
            release=self._releases(lead, turn.lead_updates),
        ))
        conversation.state, conversation.revision = turn.state, 1 if new else conversation.revision + 1
        conversation.lead.update(turn.lead_updates)
        self.app.events.dispatch(kept)
        if engaged := sum(event.name == "engaged" for event in kept):
            self.app.monthly_cap.note_engaged(engaged)
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

    @property
    def visitor_id(self) -> str:
        """The visitor's id."""
        return self.conversation.visitor_id


def _iso_utc(moment: dt.datetime) -> str:
    """A stored time as the protocol writes it: ``2030-03-04T09:00:00Z``."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[union-attr]


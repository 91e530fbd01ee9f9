"""The ``meeting`` card: offer real free times in the visitor's zone, book one, say so.

    - id: book
      type: meeting
      text: Pick a time that suits you
      route: round_robin            # or rules, {agent: ada@example.com}, {team: emea}
      strategy: round_robin         # how a queue or team chooses: round_robin, weighted, fewest_meetings
      field: lead.meetingAgent      # optional: store the agent's email on the lead
      slots: 30                     # at most this many times offered
      online_meeting: true          # optional: overrides meetings.online_meeting
      booked_text: You're booked with {agent} on {time}.
      taken_text: Someone just took that time. Here are the next free ones.
      unavailable_text: That time is no longer available. Here are the next free ones.
      fallback: ...                 # optional: overrides meetings.fallback

Every text may be given per language (``{en: ..., es: ...}``, docs/languages.md); a text left out
is the catalog's (``meeting_booked``, ``meeting_taken``...) in the visitor's language, and so is
the time (``meeting_date_format``).

Steps: ``enter`` asks for the ``offer`` effect; its result becomes a ``slots`` question; the answer
asks for the ``book`` effect; its result is a confirmation (and ``meeting_booked``), a fresh offer
when the time was taken meanwhile or is no longer available (the agent's calendar was disconnected),
or a clear message when the calendar service failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..abuse_limits import BLOCKED_MEETING_TEXT, MEETING_LIMIT_TEXT, give_back, meeting_refusal, take_meeting_places
from .booking import BookingRequest, book
from ..cards import CardContext, Effect, Outcome, Question
from ..dialogue import Card, Dialogue
from ..languages.locales import babel_locale, language_of
from ..languages.texts import check_text
from .settings import meeting_settings
from .slots import offer
from .routing import RoutingDecision, check_route, decide
from ..store import utcnow
from ..time_zones import known_time_zone

if TYPE_CHECKING:
    from ..app import Chinwag

OPTIONS = {"text", "route", "strategy", "field", "slots", "online_meeting", "booked_text", "taken_text",
           "unavailable_text", "fallback", "no_email_text", "delay"}
# Each text option, and the catalog key said when the card leaves it out.
DEFAULT_TEXT = {"booked_text": "meeting_booked", "taken_text": "meeting_taken", "unavailable_text": "meeting_unavailable",
                "no_email_text": "meeting_no_email"}


class MeetingCard:
    """Meeting booking: routing, slots, the booking itself (an effectful card type)."""

    name = "meeting"
    books_meetings = True  # the welcome says so: the widget shows the agents in its header

    def __init__(self, app: Chinwag) -> None:
        self.app = app

    # -- validation ------------------------------------------------------------------------------

    def check(self, card: Card, dialogue: Dialogue, attributes: Any) -> list[str]:
        """``text`` is required, the other texts optional (each per language when the dialogue has
        several); ``route``, ``strategy`` and ``field`` must name known things."""
        problems = [f"unknown option {key!r}" for key in sorted(set(card.options) - OPTIONS, key=str)]
        for key in ("text", *DEFAULT_TEXT, "fallback"):
            problems += check_text(card, key, dialogue, required=key == "text")
        problems += check_route(card.get("route", "round_robin"), meeting_settings(self.app),
                                self.app.routing_strategies, card.get("strategy", "round_robin"))
        field = card.get("field")
        if field is not None and (attributes.get(field) is None or not attributes.get(field).writable):
            problems.append(f"'field' must be a writable lead.* or company.* attribute (got {field!r})")
        limit = card.get("slots", 30)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
            problems.append("'slots' must be a whole number from 1 to 200")
        return problems

    def targets(self, card: Card) -> list[str | None]:
        """Its default way on."""
        return [None]

    # -- the steps -------------------------------------------------------------------------------

    def enter(self, card: Card, context: CardContext) -> Outcome:
        """Ask the session for the free times (nothing to offer without an email to invite)."""
        if not context.attribute("lead.email"):
            return Outcome(say=(_text(card, context, "no_email_text"),))
        return Outcome(effect=Effect("offer"))

    def receive(self, card: Card, context: CardContext, value: Any) -> Outcome:
        """An effect's result (offer, booked, taken, failed), or the visitor's chosen slot id."""
        result = context.effect_result
        if result is None:
            return self._chosen(card, context, value)
        if result["kind"] == "booked":
            meeting = result["meeting"]
            field = card.get("field")
            zone = self._zone(context, meeting["agent_email"])
            text = _text(card, context, "booked_text").replace("{agent}", meeting["agent_name"]).replace(
                "{time}", _local(meeting["start"], zone, context))
            return Outcome(say=(text,), set_fields={field: meeting["agent_email"]} if field else {},
                           events=(("meeting_booked", meeting),), attachment=_confirmation(meeting, zone))
        if result["kind"] == "failed":  # the visitor hears of an outage; the team gets an alert (notifications)
            return Outcome(say=(context.message(result["message"]),), events=(("booking_failed", {
                "agent_email": result.get("agent_email"), "reason": result.get("reason"), "start": result.get("start")}),))
        refused = {"taken": "taken_text", "unavailable": "unavailable_text"}.get(result["kind"])
        preface = (_text(card, context, refused),) if refused else ()
        if not result["slots"]:
            return Outcome(say=(*preface, self._fallback(card, context)))
        slots = result["slots"]
        shown = [{"id": slot["start"], "start": slot["start"], "end": slot["end"]} for slot in slots]
        minutes = int((_instant(slots[0]["end"]) - _instant(slots[0]["start"])).total_seconds() // 60)
        fields = {"slots": shown, "timezone": self._zone(context, *slots[0]["agents"]), "duration": minutes}
        agent = self._only_agent(slots)
        if agent is not None:
            fields["agent"] = {"name": agent.name}
        return Outcome(say=preface, ask=Question("slots", context.localise(card.get("text")), fields),
                       remember={"slots": {slot["start"]: slot for slot in slots}, "decision": result["decision"]})

    def _only_agent(self, slots: list[Mapping[str, Any]]) -> Any:
        """The agent who takes every offered time, when it is one and the same (a named agent, an
        account owner); None when the queue decides at booking time."""
        emails = {email for slot in slots for email in slot["agents"]}
        return meeting_settings(self.app).agents.get(next(iter(emails))) if len(emails) == 1 else None

    def _chosen(self, card: Card, context: CardContext, value: Any) -> Outcome:
        slot = context.memory.get("slots", {}).get(value) if isinstance(value, str) else None
        if slot is None:
            return Outcome(invalid=context.message("choose_time"))
        return Outcome(effect=Effect("book", {"slot": slot}), answer=value,
                       answer_text=_local(value, self._zone(context, *slot["agents"]), context))

    # -- effects ---------------------------------------------------------------------------------

    async def fulfil(self, card: Card, effect: Effect, context: Any, app: Chinwag) -> Mapping[str, Any]:
        """``offer``: route and find free times; ``book``: book the chosen one. Both within the
        project's meeting limits (``limits:``), which a booking takes a place in."""
        limits, email, visitor_id = app.config.limits, str(context.lead.get("lead.email") or ""), context.visitor_id
        if effect.kind == "offer":
            refusal = await meeting_refusal(app.store, limits, email, visitor_id)
            if refusal is not None:
                return {"kind": "failed", "message": refusal}
            decision = decide(meeting_settings(app), card.get("route", "round_robin"), card.get("strategy", "round_robin"),
                              lambda name: context.lead.get(name))
            return await self._offer(card, app, decision, "offer")
        memory = context.state.memory.get(card.id, {})
        decision = RoutingDecision(**{**memory["decision"], "agents": tuple(memory["decision"]["agents"])})
        slot = effect.data["slot"]
        if limits.blocked_domain(email):
            return {"kind": "failed", "message": BLOCKED_MEETING_TEXT}
        places = await take_meeting_places(app.store, limits, email, visitor_id)
        if places is None:
            return {"kind": "failed", "message": MEETING_LIMIT_TEXT}
        booked = False
        try:
            result = await book(app, BookingRequest(
                idempotency_key=f"{context.session_id}/{card.id}/{context.state.step}/{slot['start']}",
                decision=decision, start=_instant(slot["start"]), end=_instant(slot["end"]), agents=tuple(slot["agents"]),
                lead=context.lead, visitor_time_zone=self._zone(context, *slot["agents"]), session_id=context.session_id,
                dialogue_id=context.state.dialogue_id, page_url=context.visit.get("visit.page_url"),
                online_meeting=card.get("online_meeting", meeting_settings(app).online_meeting)))
            booked = result.outcome == "booked"
        finally:
            if not booked:  # no meeting: the places go back
                for key in places:
                    await give_back(app.store, key)
        if result.outcome == "booked":
            meeting = result.meeting
            agent = meeting_settings(app).agents[meeting["agent_email"]]
            return {"kind": "booked", "meeting": {
                "meeting_id": meeting["id"], "agent_email": agent.email, "agent_name": agent.name,
                "start": _iso(meeting["start"]), "end": _iso(meeting["end"]), "scheduled_for": _iso(meeting["start"]),
                "queue": decision.queue, "status": "scheduled", "page_url": context.visit.get("visit.page_url"),
                "join_url": meeting.get("join_url")}}
        if result.outcome == "failed":
            return {"kind": "failed", "message": result.message, "agent_email": result.agent, "reason": result.reason,
                    "start": slot["start"]}
        return await self._offer(card, app, decision, result.outcome)  # taken or unavailable: the next times

    async def _offer(self, card: Card, app: Chinwag, decision: RoutingDecision, kind: str) -> dict[str, Any]:
        slots = (await offer(app, decision, utcnow()))[: card.get("slots", 30)]
        return {"kind": kind, "decision": {"queue": decision.queue, "agents": list(decision.agents), "strategy": decision.strategy},
                "slots": [{"start": _iso(s.start), "end": _iso(s.end), "agents": list(s.agents)} for s in slots]}

    def _fallback(self, card: Card, context: CardContext) -> str:
        """What is said when nobody is free: the card's ``fallback``, else ``meetings.fallback`` (in
        the visitor's language when it gives one per language), else the catalog's."""
        project = meeting_settings(self.app).fallback
        if isinstance(project, Mapping):
            project = project.get(context.language) or project.get(language_of(context.language))
        return context.localise(card.get("fallback")) or project or context.message("meeting_fallback")

    def _zone(self, context: Any, *agent_emails: str) -> str:
        """The visitor's zone from ``hello``; when it is missing or unknown, the (first) agent's."""
        agents = meeting_settings(self.app).agents
        fallbacks = [agents[email].time_zone for email in agent_emails if email in agents]
        return _zone_of(context.visit, fallbacks[0] if fallbacks else "UTC")


def _text(card: Card, context: CardContext, key: str) -> str:
    """The card's text option ``key`` in the visitor's language, else the catalog's."""
    return context.localise(card.get(key)) or context.message(DEFAULT_TEXT[key])


def _confirmation(meeting: Mapping[str, Any], zone: str) -> dict[str, Any]:
    """The booked message's ``attachment``: what a client shows as a confirmation card (and puts in
    the visitor's own calendar)."""
    details = {"kind": "meeting", "start": meeting["start"], "end": meeting["end"], "timezone": zone,
               "agent": {"name": meeting["agent_name"]}}
    if meeting.get("join_url"):
        details["join_url"] = meeting["join_url"]
    return details


def _zone_of(visit: Mapping[str, Any], fallback: str) -> str:
    """The visitor's IANA zone from the hello frame, ``fallback`` when missing or unknown."""
    return known_time_zone(visit.get("visit.timezone")) or fallback


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def _iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(iso: str, zone: str, context: CardContext) -> str:
    """How the visitor reads a time, in their language: ``Wednesday 25 November, 10:00
    (Europe/London)`` (the catalog's ``meeting_time`` and ``meeting_date_format``)."""
    from babel.dates import format_datetime

    moment = _instant(iso).astimezone(ZoneInfo(zone))
    date = format_datetime(moment, context.message("meeting_date_format"), locale=babel_locale(context.language))
    return context.message("meeting_time", date=date, zone=zone)

"""Targeting over the real WebSocket against the real server: pages, audience, priority, the
once-per-visitor rule, engaged dialogues that follow the visitor, and attribute lookups."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from chinwag.attributes import Attribute, LookupContext
from chinwag.hookspecs import hookimpl
from chinwag.tables import events, visitors
from chinwag.testing import ScriptedVisitor, ServerThread, registered_plugin, write_project

SITE = "https://www.example.com"


def dialogue(dialogue_id: str, priority: int, targeting: dict[str, Any] | None = None) -> dict[str, Any]:
    """Two questions, then a goodbye that ends it."""
    buttons = [{"label": "Yes", "value": "yes"}, {"label": "No", "value": "no"}]
    return {"id": dialogue_id, "name": dialogue_id.title(), "priority": priority, "targeting": targeting or {},
            "response_delay": 0, "cards": [
                {"id": "ask", "type": "question", "text": f"{dialogue_id}: shall we talk?", "buttons": buttons},
                {"id": "more", "type": "question", "text": f"{dialogue_id}: tell you more?", "buttons": buttons},
                {"id": "bye", "type": "message", "text": f"{dialogue_id}: bye"},
            ]}


def serve(path: Path, dialogues: dict[str, dict[str, Any]], **config: Any) -> ServerThread:
    return ServerThread(write_project(path, config={"name": "targeting", **config}, dialogues=dialogues), demo=False)


def dialogue_of(welcome: dict[str, Any]) -> str | None:
    return welcome["dialogue"]["id"] if welcome["dialogue"] else None


async def visit(server: ServerThread, url: str, visitor: str | None = None, session: str | None = None,
                headers: dict[str, str] | None = None, **hello: Any) -> tuple[ScriptedVisitor, dict[str, Any]]:
    """Load ``url`` as the widget does: hello with the visitor (and session) it remembers."""
    page = ScriptedVisitor(server, visitor=visitor, session=session, page_url=url, headers=headers)
    return page, await page.connect(**hello)


def triggered(server: ServerThread, visitor: str) -> list[str]:
    """The dialogues a ``triggered`` event was stored for, for this visitor, in order."""
    async def read(app: Any) -> list[str]:
        async with app.store.connect() as connection:
            return list((await connection.execute(sa.select(events.c.dialogue_id).where(
                events.c.visitor_id == visitor, events.c.name == "triggered").order_by(events.c.id))).scalars())
    return server.call(read)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "postgresql":
        return {"database": request.getfixturevalue("postgres_url")}
    return {}


@pytest.fixture
def two_pages(tmp_path: Path, database: dict[str, str]) -> Iterator[ServerThread]:
    """``pricing`` (priority 1) on the pricing pages, ``general`` (priority 5) everywhere but partners' links."""
    dialogues = {
        "pricing": dialogue("pricing", 1, {"include": [f"{SITE}/pricing/*"]}),
        "general": dialogue("general", 5, {"exclude": ["utm_source=partner", "/legal/*"]}),
    }
    with serve(tmp_path / "p", dialogues, **database) as server:
        yield server


async def test_page_rules_and_priority_choose_the_dialogue(two_pages: ServerThread) -> None:
    for url, expected in ((f"{SITE}/pricing/team", "pricing"), (f"{SITE}/pricing", "pricing"),
                          (f"{SITE}/blog/post", "general"), ("https://other.example/pricing/team", "general"),
                          (f"{SITE}/blog/post?utm_source=partner", None), (f"{SITE}/legal/terms", None)):
        page, welcome = await visit(two_pages, url)
        await page.close()
        assert dialogue_of(welcome) == expected, url
        assert (welcome["status"] == "active") is (expected is not None)


async def test_once_per_visitor_replacement_and_engaged_dialogue_following_the_visitor(two_pages: ServerThread) -> None:
    # Page 1: the pricing dialogue opens; the visitor does not answer.
    page, welcome = await visit(two_pages, f"{SITE}/pricing/team")
    await page.question()
    await page.close()
    visitor, pricing_session = welcome["visitor"], welcome["session"]
    # Page 2 is not a pricing page: the general dialogue replaces the unanswered one.
    page, welcome = await visit(two_pages, f"{SITE}/blog/post", visitor, pricing_session)
    await page.close()
    assert dialogue_of(welcome) == "general" and welcome["session"] != pricing_session
    general_session = welcome["session"]
    # Back on a pricing page: the same pricing session again, not a second showing.
    page, welcome = await visit(two_pages, f"{SITE}/pricing/team", visitor, general_session)
    assert dialogue_of(welcome) == "pricing" and welcome["session"] == pricing_session
    assert welcome["transcript"][-1]["text"] == "pricing: shall we talk?"
    # The visitor answers: engaged. The dialogue has not ended.
    await page.answer("yes", question=welcome["awaiting"])
    assert (await page.question())["card"] == "more"
    await page.close()
    # It follows them onto pages it does not target, blocking the dialogue of those pages, in
    # the same tab and in a new one, even where nothing at all is targeted.
    for url, session in ((f"{SITE}/blog/post", pricing_session), (f"{SITE}/blog/post", None),
                         (f"{SITE}/legal/terms", None), (f"{SITE}/x?utm_source=partner", general_session)):
        page, welcome = await visit(two_pages, url, visitor, session)
        assert dialogue_of(welcome) == "pricing" and welcome["session"] == pricing_session, url
        assert welcome["status"] == "active" and welcome["awaiting"].startswith("more:")
        await page.close()
    # The visitor finishes it on a blog page.
    page, welcome = await visit(two_pages, f"{SITE}/blog/post", visitor, pricing_session)
    await page.answer("no", question=welcome["awaiting"])
    while "completed" not in page.events():
        await page.until("event")
    await page.close()
    # Finished: never shown again. On a pricing page the next qualifying dialogue resumes.
    page, welcome = await visit(two_pages, f"{SITE}/pricing/team", visitor)
    await page.close()
    assert dialogue_of(welcome) == "general" and welcome["session"] == general_session
    # A reload of the page where it ended, where nothing else qualifies, shows how it ended.
    page, welcome = await visit(two_pages, f"{SITE}/legal/terms", visitor, pricing_session)
    await page.close()
    assert welcome["status"] == "completed" and welcome["transcript"][-1]["text"] == "pricing: bye"
    assert triggered(two_pages, visitor) == ["pricing", "general"]  # once each, never on a return


async def test_audience_on_country_device_utm_and_visits(tmp_path: Path) -> None:
    dialogues = {
        "germany": dialogue("germany", 1, {"audience": {"all": [
            {"attribute": "visit.country", "op": "is", "value": "DE"},
            {"attribute": "visit.device", "op": "is", "value": "mobile"}]}}),
        "campaign": dialogue("campaign", 2, {"audience": {"attribute": "visit.utm_campaign", "op": "starts_with",
                                                          "value": "spring"}}),
        "returning": dialogue("returning", 3, {"audience": {"any": [
            {"attribute": "visit.returning", "op": "is", "value": True},
            {"attribute": "visit.count", "op": "gt", "value": 1}]}}),
    }
    phone = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148"}
    with serve(tmp_path / "p", dialogues, targeting={"country_header": "X-Visitor-Country"}) as server:
        page, welcome = await visit(server, SITE, headers={**phone, "X-Visitor-Country": "DE"})
        await page.close()
        assert dialogue_of(welcome) == "germany"
        page, welcome = await visit(server, SITE, headers={"X-Visitor-Country": "DE"})  # not on a phone
        await page.close()
        assert dialogue_of(welcome) is None
        # a header the proxy does not set is not read: visit.country from the page is replaced
        page, welcome = await visit(server, SITE, headers={**phone, "X-Country": "DE"})
        await page.close()
        assert dialogue_of(welcome) is None
        page, welcome = await visit(server, f"{SITE}/?utm_campaign=Spring-2026")
        await page.close()
        assert dialogue_of(welcome) == "campaign"
        visitor = welcome["visitor"]
        # The same visitor, back after more than the visit gap: a returning visitor.
        page, welcome = await visit(server, SITE, visitor)
        await page.close()
        assert dialogue_of(welcome) is None  # still the first visit

        async def an_hour_ago(app: Any) -> None:
            async with app.store.transaction() as connection:
                await connection.execute(sa.update(visitors).where(visitors.c.id == visitor).values(
                    last_seen_at=_hour_ago()))
        server.call(an_hour_ago)
        page, welcome = await visit(server, SITE, visitor)
        await page.close()
        assert dialogue_of(welcome) == "returning"


def _hour_ago() -> Any:
    import datetime as dt
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)


class ScorePlugin:
    """Attributes whose values a remote system holds: one answers, one never does."""

    def __init__(self) -> None:
        self.never = asyncio.Event()
        self.calls: list[str] = []

    @hookimpl
    def register_attributes(self, register: Any) -> None:
        async def score(context: LookupContext) -> int:
            self.calls.append(str(context.visit.get("visit.account")))
            await asyncio.sleep(0)
            return {"acme": 90, "tiny": 5}.get(str(context.visit.get("visit.account")), 0)

        async def segment(context: LookupContext) -> str:
            await self.never.wait()  # a CRM that does not answer
            return "enterprise"

        register(Attribute("person.score", "number", "Score", lookup=score, timeout=10))
        register(Attribute("person.segment", "string", "Segment", lookup=segment, timeout=0.3))


async def test_plugin_attributes_are_looked_up_and_a_slow_lookup_does_not_hold_up_the_chat(tmp_path: Path) -> None:
    dialogues = {
        "partners": dialogue("partners", 1, {"include": ["utm_source=partner"]}),
        "enterprise": dialogue("enterprise", 2, {"audience": {"attribute": "person.segment", "op": "is",
                                                              "value": "enterprise"}}),
        "hot": dialogue("hot", 3, {"audience": {"attribute": "person.score", "op": "gt", "value": 50}}),
        "everyone": dialogue("everyone", 9),
    }
    plugin = ScorePlugin()
    with registered_plugin(plugin, "score-plugin"):
        with serve(tmp_path / "p", dialogues) as server:
            # A dialogue that needs no lookup qualifies first: nothing is looked up.
            page, welcome = await visit(server, f"{SITE}/?utm_source=partner", attributes={"visit.account": "acme"})
            await page.close()
            assert dialogue_of(welcome) == "partners" and plugin.calls == []
            # The segment service never answers: the chat goes on without it, with the score.
            page, welcome = await visit(server, SITE, attributes={"visit.account": "acme"})
            await page.close()
            assert dialogue_of(welcome) == "hot" and plugin.calls == ["acme"]
            page, welcome = await visit(server, SITE, attributes={"visit.account": "tiny"})
            await page.close()
            assert dialogue_of(welcome) == "everyone"


async def test_behaviour_trigger_protocol_and_old_clients(tmp_path: Path) -> None:
    dialogues = {"later": dialogue("later", 1, {"trigger": {"time_on_page": 20, "scroll": 50}}),
                 "now": dialogue("now", 2)}
    with serve(tmp_path / "p", dialogues) as server:
        # A client of protocol 1.0 cannot evaluate triggers: it gets the best dialogue without one.
        page, welcome = await visit(server, SITE)
        await page.close()
        assert dialogue_of(welcome) == "now" and welcome["minor"] == 0
        # A 1.1 client is told the rules; nothing is shown or counted until the page says so.
        page, welcome = await visit(server, SITE, minor=1)
        visitor = welcome["visitor"]
        assert welcome["minor"] == 1 and welcome["status"] == "pending" and welcome["session"] is None
        assert dialogue_of(welcome) == "later" and welcome["trigger"]["rules"] == {"time_on_page": 20, "scroll": 50}
        assert welcome["trigger"]["site_seconds"] >= 0
        await page.send({"type": "opened"})
        assert (await page.until("error"))["code"] == "not_ready"  # nothing is shown yet
        await page.send({"type": "trigger", "dialogue": "now"})
        assert (await page.until("error"))["code"] == "not_pending"
        assert triggered(server, visitor) == []
        await page.send({"type": "trigger", "dialogue": "later"})
        shown = await page.until("welcome")
        assert shown["status"] == "active" and dialogue_of(shown) == "later" and shown["session"]
        assert (await page.question())["text"] == "later: shall we talk?"
        await page.until("event")
        assert triggered(server, visitor) == ["later"]
        await page.send({"type": "trigger", "dialogue": "later"})  # a second trigger changes nothing
        assert (await page.until("error"))["code"] == "not_pending"
        await page.send({"type": "opened"})
        await page.send({"type": "closed"})
        await page.send({"type": "ping"})
        await page.until("pong")
        await page.close()
        # The trigger was met once: on the next page (or visit) the dialogue shows at once.
        page, welcome = await visit(server, f"{SITE}/other", visitor, minor=1)
        await page.close()
        assert welcome["status"] == "active" and welcome["session"] == shown["session"]

        async def window_events(app: Any) -> list[str]:
            async with app.store.connect() as connection:
                return list((await connection.execute(sa.select(events.c.name).where(
                    events.c.session_id == shown["session"], events.c.name.in_(["opened", "closed"]))
                    .order_by(events.c.id))).scalars())
        assert server.call(window_events) == ["opened", "closed"]
        assert triggered(server, visitor) == ["later"]


async def test_audience_on_referrer_locale_and_the_fields_known_about_the_person(tmp_path: Path) -> None:
    dialogues = {
        "enterprise": dialogue("enterprise", 1, {"audience": {"attribute": "company.size", "op": "gt", "value": 200}}),
        "search": dialogue("search", 2, {"audience": {"attribute": "visit.referrer", "op": "contains", "value": "google."}}),
        "german": dialogue("german", 3, {"audience": {"attribute": "visit.locale", "op": "starts_with", "value": "de"}}),
        "anonymous": dialogue("anonymous", 4, {"audience": {"all": [
            {"attribute": "lead.email", "op": "is_empty"}, {"attribute": "person.email", "op": "is_empty"}]}}),
    }
    with serve(tmp_path / "p", dialogues) as server:
        page, welcome = await visit(server, SITE, page={"url": SITE, "referrer": "https://www.google.de/search?q=x"})
        await page.close()
        assert dialogue_of(welcome) == "search"
        page, welcome = await visit(server, SITE, locale="de-AT")
        await page.close()
        assert dialogue_of(welcome) == "german"
        page, welcome = await visit(server, SITE)
        await page.close()
        assert dialogue_of(welcome) == "anonymous"
        visitor = welcome["visitor"]

        async def known_at_a_big_company(app: Any) -> None:  # what a CRM's recognition stores
            async with app.store.transaction() as connection:
                await connection.execute(sa.update(visitors).where(visitors.c.id == visitor).values(
                    lead={"person.email": "ada@big.example", "company.size": 5000}))
        server.call(known_at_a_big_company)
        page, welcome = await visit(server, SITE, visitor)
        await page.close()
        assert dialogue_of(welcome) == "enterprise"


def test_a_looked_up_attribute_in_a_branch_or_a_routing_rule_is_an_error(tmp_path: Path) -> None:
    from chinwag.app import Chinwag
    from chinwag.problems import InvalidProject

    branching = {"id": "branching", "name": "Branching", "cards": [
        {"id": "split", "type": "branch", "rules": [{"if": {"attribute": "person.score", "op": "gt", "value": 50},
                                                     "next": "hot"}], "otherwise": "bye"},
        {"id": "hot", "type": "message", "text": "Hot!"},
        {"id": "bye", "type": "end", "text": "Bye"}]}
    folder = write_project(tmp_path / "p", config={"name": "targeting"}, dialogues={"branching": branching})
    with registered_plugin(ScorePlugin(), "score-plugin"):
        with pytest.raises(InvalidProject) as refused:
            Chinwag.from_project(folder)
    assert any("attribute 'person.score' is looked up only to target a dialogue" in str(problem)
               for problem in refused.value.problems)


def test_a_visit_attribute_cannot_declare_a_lookup() -> None:
    async def value(context: LookupContext) -> str:
        return "x"

    with pytest.raises(ValueError, match="visit.\\* attributes come from the page and the request"):
        Attribute("visit.plan", lookup=value)
    assert Attribute("visit.plan").lookup is None  # without a lookup it is an ordinary visit attribute


async def test_a_dialogue_runs_only_between_its_starts_and_ends(tmp_path: Path) -> None:
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    dialogues = {"soon": {**dialogue("soon", 1), "starts": (now + dt.timedelta(days=1)).isoformat()},
                 "over": {**dialogue("over", 2), "ends": (now - dt.timedelta(minutes=1)).isoformat()},
                 "now": {**dialogue("now", 3), "starts": (now - dt.timedelta(days=1)).date().isoformat(),
                         "ends": (now + dt.timedelta(days=1)).isoformat()}}
    with serve(tmp_path / "p", dialogues) as server:
        page, welcome = await visit(server, SITE, minor=1)
        assert dialogue_of(welcome) == "now"  # the higher priorities are not running
        await page.send({"type": "start", "dialogue": "soon"})
        refused = await page.until("welcome")
        assert refused["type"] == "error" and refused["code"] == "not_running"
        await page.close()


def test_starts_and_ends_are_checked_with_their_lines(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = {**dialogue("bad", 1), "starts": "next tuesday", "ends": "2026-01-01"}
    backwards = {**dialogue("backwards", 2), "starts": "2027-02-01", "ends": "2027-01-01"}
    folder = write_project(tmp_path / "p", config={"name": "targeting"}, dialogues={"bad": bad, "backwards": backwards})
    chinwag = str(Path(sys.executable).with_name("chinwag"))
    result = subprocess.run([chinwag, "validate", str(folder)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "'starts' must be a date like 2026-12-01" in result.stderr and "bad.yaml:" in result.stderr
    assert "dialogue 'backwards': 'ends' must come after 'starts'" in result.stderr

"""The CRM connector contract as a reusable pytest suite: run it against your connector's sandbox.

Subclass ``CrmConnectorContract`` in your plugin's tests and give it two fixtures:

* ``connector``: your connector, talking to a sandbox of the CRM over real HTTP (an async
  fixture may start a ``chinwag.app.Chinwag`` and return ``app.crm_connectors[name]``:
  ``started_connector`` does that for a project folder);
* ``remote``: a ``CrmRemote`` for the same sandbox: it seeds people the CRM knows already and
  reads back what the CRM received (leads, activities, list members), and it can fail every call
  (an outage) or refuse an email for good.

Every test then checks one promise of ``chinwag.crm.CrmConnector`` as chinwag relies on it:
lookup by email and tracking cookie, upsert, activities recorded once even when re-sent,
programs or lists, paging through changes with a cursor, forgetting a person, refusals returned
as ``Skipped`` and outages raised. Class attributes say what your CRM does (``finds_leads``,
``pulls``, ``pulls_activities``, ``lists``, ``forgets``); a connector without a capability is
held to the harmless answer chinwag expects instead (``None``, an empty page that is done, no
memberships), and one that pulls no activities does not have that test at all.

    from chinwag.testing_crm import CrmConnectorContract

    class TestMyCrm(CrmConnectorContract):
        @pytest.fixture
        def remote(self, my_sandbox):
            return MySandboxRemote(my_sandbox)

        @pytest.fixture
        async def connector(self, my_sandbox):
            connector = MyCrm({"base_url": my_sandbox.url})
            yield connector
            await connector.close()
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs
import pytest
import pytest_asyncio

from .crm import Activity, CrmConnector, LeadRecord, LeadUpsert, PullPage
from .crm_delivery import CrmDelivery
from .outbox import OutboxItem, Skipped

MAX_PAGES = 200  # a pull that has not said "done" after this many pages is looping


@runtime_checkable
class CrmRemote(Protocol):
    """The suite's hands on the CRM's sandbox: set it up and read back what it received.

    Field names are the CRM's own (``firstName``); ``lead_value`` takes a chinwag attribute
    (``lead.firstName``) and answers with the value the CRM stored for it, however it maps it.
    """

    def add_lead(self, email: str, person: Mapping[str, Any], company: Mapping[str, Any]) -> str:
        """Make the CRM know this person (as if created there); return its lead id.

        The person must show up in a ``pull`` started before this call."""

    def link_tracking_cookie(self, email: str) -> str:
        """Give the known person ``email`` a tracking cookie; return the cookie's value."""

    def has_lead(self, email: str) -> bool:
        """Whether the CRM holds a person with this email."""

    def lead_value(self, email: str, attribute: str) -> Any:
        """The value the CRM holds for chinwag attribute ``attribute`` of ``email`` (None if none)."""

    def recorded_activities(self) -> Sequence[str]:
        """The key of every activity the CRM recorded, once per recording, in order."""

    def list_members(self, list_id: str) -> Mapping[str, str | None]:
        """Email -> status of the members of a list or program."""

    def refuse(self, email: str) -> None:
        """Make the CRM refuse this email for good (a blocklist, an invalid address)."""

    def outage(self) -> None:
        """Make every call to the CRM fail (503) until ``recover``."""

    def recover(self) -> None:
        """End the outage."""


def unique_email(label: str = "ada") -> str:
    """An email address no earlier test used."""
    return f"{label}.{secrets.token_hex(4)}@contract.example"


@contextlib.asynccontextmanager
async def started_connector(project_dir: Path | str, name: str) -> AsyncIterator[Any]:
    """The connector ``name`` as the project's plugins register it, in a started app (its store
    open, its ``startup`` hooks run), stopped on the way out."""
    from .app import Chinwag

    app = Chinwag.from_project(project_dir)
    await app.start()
    try:
        yield app.crm_connectors[name]
    finally:
        await app.stop()


class CrmConnectorContract:
    """The tests every CRM connector passes. Override ``connector`` and ``remote``; adjust the
    class attributes to what the CRM does."""

    # The field names the CRM uses for a person's first name and their company's name, as
    # ``LeadRecord.person`` and ``LeadRecord.company`` carry them.
    person_field = "firstName"
    company_field = "name"
    # What an upsert sends: chinwag attributes the connector writes (``lead.*``, ``company.*``).
    upsert_attribute = "lead.firstName"
    # An event type the connector records, and the goal whose reaching adds a lead to a list.
    activity_type = "goal_reached"
    goal = "contact-given"
    # Capabilities: what the CRM does. Without one, the harmless answer is checked instead.
    finds_leads = True
    pulls = True
    pulls_activities = False  # pages carry the activities the CRM recorded (the remote needs add_activity)
    lists = True
    forgets = True

    def __init_subclass__(cls, **options: Any) -> None:
        """Leave out the activities pull test for a connector that does not pull activities
        (pytest does not collect a name bound to None): not a skip, it does not apply."""
        super().__init_subclass__(**options)
        if not (cls.pulls and cls.pulls_activities):
            cls.test_pulled_pages_carry_activities_when_the_crm_has_them = None  # type: ignore[assignment]

    # -- fixtures the plugin overrides -----------------------------------------------------------

    @pytest.fixture
    def connector(self) -> CrmConnector:
        """Your connector, talking to the sandbox ``remote`` reads back."""
        raise NotImplementedError("override the connector fixture in your CrmConnectorContract subclass")

    @pytest.fixture
    def remote(self) -> CrmRemote:
        """Your ``CrmRemote`` for the sandbox the connector talks to."""
        raise NotImplementedError("override the remote fixture in your CrmConnectorContract subclass")

    @pytest_asyncio.fixture
    async def pull_cursor(self, connector: CrmConnector) -> str | None:
        """Where an incremental pull starts for the tests: None is "from the beginning". A CRM
        whose changes are read from a token taken after an initial sync returns a fresh one."""
        return None

    # -- building blocks --------------------------------------------------------------------------

    def activity(self, email: str | None, *, type: str | None = None, retried: bool = False,
                 key: str | None = None, **data: Any) -> Activity:
        """An activity as chinwag's delivery hands it over."""
        return Activity(key=key or f"e_{secrets.token_hex(8)}", type=type or self.activity_type, email=email,
                        visitor_id=f"v_{secrets.token_hex(6)}", session_id=f"s_{secrets.token_hex(6)}",
                        dialogue_id="contact", dialogue_name="Contact", page_url="https://site.example/pricing",
                        occurred_at=dt.datetime.now(dt.timezone.utc), data={"goal": self.goal, **data},
                        retried=retried)

    def upsert(self, email: str, value: str = "Ada") -> LeadUpsert:
        """A lead upsert carrying ``upsert_attribute`` = ``value``."""
        return LeadUpsert(key=f"e_{secrets.token_hex(8)}", email=email,
                          fields={"lead.email": email, self.upsert_attribute: value}, visitor_id="v_contract")

    async def known_lead(self, connector: CrmConnector, email: str) -> None:
        """Upsert ``email`` and check the CRM took it (activities and lists need their lead)."""
        refused = await connector.upsert_leads([self.upsert(email)])
        assert refused == {}, f"upserting a plain lead was refused: {refused}"

    async def pull_all(self, connector: CrmConnector, cursor: str | None) -> tuple[list[PullPage], str | None]:
        """Every page from ``cursor`` until the connector says done; the pages and the last cursor."""
        pages: list[PullPage] = []
        for _ in range(MAX_PAGES):
            page = await connector.pull(cursor)
            assert isinstance(page, PullPage), f"pull must return a PullPage, not {page!r}"
            assert page.cursor is None or isinstance(page.cursor, str), "a cursor is text (or None)"
            pages.append(page)
            cursor = page.cursor if page.cursor is not None else cursor
            if page.done:
                return pages, cursor
        pytest.fail(f"pull was not done after {MAX_PAGES} pages")

    # -- the contract -----------------------------------------------------------------------------

    def test_it_is_a_crm_connector(self, connector: CrmConnector) -> None:
        """The members chinwag reads before calling anything."""
        assert isinstance(connector, CrmConnector), "the connector lacks members of chinwag.crm.CrmConnector"
        assert isinstance(connector.name, str) and connector.name, "name must be non-empty text"
        assert isinstance(connector.batch_size, int) and connector.batch_size >= 1, "batch_size must be at least 1"
        assert connector.event_types is None or (
            isinstance(connector.event_types, frozenset) and all(isinstance(t, str) for t in connector.event_types))
        assert connector.event_types is None or self.activity_type in connector.event_types, (
            f"set activity_type to an event type the connector asks for (not {self.activity_type!r})")
        assert connector.tracking_cookie is None or isinstance(connector.tracking_cookie, str)

    async def test_find_lead_by_email(self, connector: CrmConnector, remote: CrmRemote) -> None:
        """A person the CRM knows comes back with their id and fields; a stranger is None."""
        email = unique_email()
        if not self.finds_leads:
            assert await connector.find_lead(email=email) is None
            return
        lead_id = remote.add_lead(email, {self.person_field: "Ada"}, {self.company_field: "Analytical Engines"})
        record = await connector.find_lead(email=email)
        assert isinstance(record, LeadRecord), f"find_lead must return a LeadRecord, not {record!r}"
        assert (record.lead_id, (record.email or "").lower()) == (str(lead_id), email)
        assert record.person.get(self.person_field) == "Ada"
        assert record.company.get(self.company_field) == "Analytical Engines"
        assert await connector.find_lead(email=unique_email("nobody")) is None

    async def test_find_lead_by_tracking_cookie(self, connector: CrmConnector, remote: CrmRemote) -> None:
        """The CRM's tracking cookie finds its person; an unknown cookie, or a CRM without one, finds None."""
        if connector.tracking_cookie is None or not self.finds_leads:
            assert await connector.find_lead(tracking_cookie="id:000-AAA-000&token:_mch-unknown") is None
            return
        email = unique_email()
        remote.add_lead(email, {self.person_field: "Grace"}, {})
        cookie = remote.link_tracking_cookie(email)
        record = await connector.find_lead(tracking_cookie=cookie)
        assert record is not None and (record.email or "").lower() == email
        assert record.person.get(self.person_field) == "Grace"
        assert await connector.find_lead(tracking_cookie=cookie + "-unknown") is None

    async def test_upsert_creates_then_updates_one_lead(self, connector: CrmConnector, remote: CrmRemote) -> None:
        """The first upsert creates the person, the next changes them (never a second person)."""
        email = unique_email()
        assert await connector.upsert_leads([self.upsert(email, "Ada")]) == {}
        assert remote.has_lead(email) and remote.lead_value(email, self.upsert_attribute) == "Ada"
        first = await connector.find_lead(email=email) if self.finds_leads else None
        assert await connector.upsert_leads([self.upsert(email, "Augusta")]) == {}
        assert remote.lead_value(email, self.upsert_attribute) == "Augusta"
        if first is not None:
            again = await connector.find_lead(email=email)
            assert again is not None and again.lead_id == first.lead_id, "the update made a second lead"

    async def test_a_refused_lead_is_skipped_and_the_rest_kept(self, connector: CrmConnector, remote: CrmRemote) -> None:
        """Refusals come back as ``{key: Skipped(reason)}``; the good records of the batch land."""
        good, bad = unique_email("good"), unique_email("bad")
        remote.refuse(bad)
        upserts = [self.upsert(good), self.upsert(bad)]
        refused = await connector.upsert_leads(upserts)
        assert set(refused) == {upserts[1].key}, f"expected only the refused lead's key, got {refused}"
        assert isinstance(refused[upserts[1].key], Skipped) and refused[upserts[1].key].reason.strip()
        assert remote.has_lead(good) and not remote.has_lead(bad)

    async def test_an_activity_is_recorded_once_even_when_sent_again(self, connector: CrmConnector,
                                                                     remote: CrmRemote) -> None:
        """Re-sent after an unknown outcome (``retried``), an activity is still recorded once."""
        email = unique_email()
        await self.known_lead(connector, email)
        activity = self.activity(email)
        assert await connector.record_activities([activity]) == {}
        assert await connector.record_activities([attrs.evolve(activity, retried=True)]) == {}
        assert list(remote.recorded_activities()).count(activity.key) == 1

    async def test_an_outage_is_raised_and_recovers_without_doubles(self, connector: CrmConnector,
                                                                    remote: CrmRemote) -> None:
        """An outage raises (the outbox retries the batch), never returns refusals; after it, the
        retried batch lands once."""
        email = unique_email()
        await self.known_lead(connector, email)
        activity = self.activity(email)
        remote.outage()
        try:
            with pytest.raises(Exception) as raised:
                await connector.record_activities([activity])
            assert not isinstance(raised.value, AssertionError)
            with pytest.raises(Exception):
                await connector.upsert_leads([self.upsert(unique_email("during"))])
        finally:
            remote.recover()
        assert await connector.record_activities([attrs.evolve(activity, retried=True)]) == {}
        assert list(remote.recorded_activities()).count(activity.key) == 1

    async def test_activities_of_a_refused_lead_are_refused(self, connector: CrmConnector, remote: CrmRemote) -> None:
        """An activity the CRM cannot take for good is refused by key, not raised."""
        bad = unique_email("bad")
        remote.refuse(bad)
        await connector.upsert_leads([self.upsert(bad)])
        activity = self.activity(bad)
        refused = await connector.record_activities([activity])
        assert activity.key in refused and isinstance(refused[activity.key], Skipped), refused
        assert activity.key not in remote.recorded_activities()

    async def test_an_anonymous_activity_is_recorded_or_refused(self, connector: CrmConnector,
                                                                remote: CrmRemote) -> None:
        """A visitor without an email yet: the activity is recorded, or refused with a reason."""
        activity = self.activity(None)
        refused = await connector.record_activities([activity])
        recorded = activity.key in remote.recorded_activities()
        assert recorded != (activity.key in refused), "recorded and refused at once, or neither"
        if not recorded:
            assert refused[activity.key].reason.strip()

    async def test_list_membership_with_its_status(self, connector: CrmConnector, remote: CrmRemote) -> None:
        """The goal's activity adds its lead to the configured list with a status, harmlessly twice."""
        email = unique_email()
        activity = self.activity(email)
        memberships = list(connector.memberships(activity))
        if not self.lists:
            assert memberships == [] and await connector.add_to_lists([]) == {}
            return
        assert memberships, f"no list membership for a {self.activity_type} of goal {self.goal!r}: configure one"
        assert all(m.key == activity.key and m.email == email for m in memberships)
        await self.known_lead(connector, email)
        assert await connector.add_to_lists(memberships) == {}
        assert await connector.add_to_lists(memberships) == {}, "adding the same membership again was refused"
        for membership in memberships:
            members = remote.list_members(membership.list_id)
            assert members.get(email) == membership.status, f"list {membership.list_id}: {dict(members)}"

    async def test_pull_pages_through_changes_with_a_cursor(self, connector: CrmConnector, remote: CrmRemote,
                                                            pull_cursor: str | None) -> None:
        """Pages until done; from the saved cursor, only what changed since comes back."""
        if not self.pulls:
            page = await connector.pull(None)
            assert isinstance(page, PullPage) and list(page.records) == [] and page.done
            return
        emails = [unique_email(f"p{number}") for number in range(3)]
        for number, email in enumerate(emails):
            remote.add_lead(email, {self.person_field: f"P{number}"}, {self.company_field: f"Co{number}"})
        pages, cursor = await self.pull_all(connector, pull_cursor)
        pulled = {(record.email or "").lower(): record for page in pages for record in page.records}
        assert set(emails) <= set(pulled), f"people missing from the pull: {set(emails) - set(pulled)}"
        assert [pulled[email].person.get(self.person_field) for email in emails] == ["P0", "P1", "P2"]
        assert pulled[emails[0]].company.get(self.company_field) == "Co0"
        again, cursor = await self.pull_all(connector, cursor)
        assert not set(emails) & {(r.email or "").lower() for page in again for r in page.records}, (
            "a pull from the saved cursor brought the same people again")
        later = unique_email("later")
        remote.add_lead(later, {self.person_field: "Later"}, {})
        news, _ = await self.pull_all(connector, cursor)
        brought = {(r.email or "").lower() for page in news for r in page.records}
        assert later in brought and not set(emails) & brought

    async def test_pulled_pages_carry_activities_when_the_crm_has_them(self, connector: CrmConnector,
                                                                       remote: CrmRemote,
                                                                       pull_cursor: str | None) -> None:
        """``PullPage.activities`` holds the activities the CRM recorded since the cursor."""
        add_activity = getattr(remote, "add_activity", None)
        assert add_activity is not None, "pulls_activities = True needs CrmRemote.add_activity(email) -> id"
        email = unique_email()
        remote.add_lead(email, {self.person_field: "Ada"}, {})
        activity_id = add_activity(email)
        pages, _ = await self.pull_all(connector, pull_cursor)
        pulled = {str(a.activity_id) for page in pages for a in page.activities}
        assert str(activity_id) in pulled

    async def test_forget_deletes_the_person(self, connector: CrmConnector, remote: CrmRemote) -> None:
        """After ``forget`` the CRM no longer holds the person; forgetting a stranger is harmless."""
        email = unique_email()
        await self.known_lead(connector, email)
        await connector.forget(unique_email("stranger"))
        await connector.forget(email)
        if not self.forgets:
            return
        assert not remote.has_lead(email), "the person is still at the CRM after forget"
        if self.finds_leads:
            assert await connector.find_lead(email=email) is None

    async def test_a_batch_delivered_through_the_outbox(self, connector: CrmConnector, remote: CrmRemote) -> None:
        """chinwag's delivery of two outbox items (a captured lead, then its goal): the lead lands
        with its field, the goal is recorded once even when the batch is delivered again."""
        email = unique_email()
        delivery = CrmDelivery(connector)
        items = [_outbox_item(1, "lead_captured", email, {"lead.email": email, self.upsert_attribute: "Ada"}, {}),
                 _outbox_item(2, self.activity_type, email, {"lead.email": email, self.upsert_attribute: "Ada"},
                              {"goal": self.goal})]
        wanted = [item for item in items if connector.event_types is None or item.kind in connector.event_types]
        assert await delivery.deliver(wanted) == {}
        assert remote.lead_value(email, self.upsert_attribute) == "Ada"
        again = [attrs.evolve(item, attempts=1) for item in wanted]  # a crash before the outcome was saved
        assert await delivery.deliver(again) == {}
        assert list(remote.recorded_activities()).count(items[1].key) == 1


def _outbox_item(number: int, kind: str, email: str, lead: Mapping[str, Any], data: Mapping[str, Any]) -> OutboxItem:
    """An outbox row of a CRM connector as the delivery worker claims it."""
    now = dt.datetime.now(dt.timezone.utc)
    payload = {"session_id": "s_contract", "visitor_id": "v_contract", "dialogue_id": "contact",
               "dialogue_name": "Contact", "page_url": "https://site.example/", "data": dict(data),
               "occurred_at": now.isoformat(), "lead": dict(lead),
               "lead_updates": dict(lead) if kind == "lead_captured" else {}}
    return OutboxItem(number, "crm", f"e_{secrets.token_hex(8)}", kind, payload, "v_contract", 0, "pending", None,
                      now, now)

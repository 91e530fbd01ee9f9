"""The CRM connector contract: what a Marketo, HubSpot, Salesforce or webhook plugin implements.

A connector is registered with ``register_crm_connectors``. chinwag drives it from two sides:

* **Out** (through the outbox, so nothing is lost or sent twice): every event of the types the
  connector asks for becomes an outbox row in the same transaction as the turn that caused it;
  the delivery worker hands batches to ``chinwag.crm_delivery.CrmDelivery``, which calls
  ``upsert_leads``, ``record_activities`` and ``add_to_lists``. Each record carries a ``key``
  (the event's id) that the connector passes to the remote end for idempotency.
* **In**: ``find_lead`` resolves a visitor in real time (by email, or by the CRM's tracking
  cookie); ``pull`` pages through changes since a cursor (``chinwag crm sync``), and the pulled
  people land in the ``crm_records`` table, keyed by connector and lead id, with an email index
  (``chinwag.crm_records``). Their fields become the attributes ``person.<field>`` and
  ``company.<field>``.

A method's refusals of single records (an invalid email, a field the CRM rejects) are returned
as ``{key: Skipped(reason)}``: final, shown by ``chinwag outbox``, never retried. An outage or a
rate limit is raised (``RetryLater``, ``PauseDelivery`` from ``chinwag.outbox``, or any error):
the whole batch is retried later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from .outbox import Skipped

# Lead attribute prefixes a CRM record fills: the person's fields and their company's.
PERSON_PREFIX = "person."
COMPANY_PREFIX = "company."


@attrs.frozen
class LeadRecord:
    """A person as the CRM knows them: its id, email, and person and company fields by name."""

    lead_id: str
    email: str | None
    person: Mapping[str, Any] = attrs.field(factory=dict)
    company: Mapping[str, Any] = attrs.field(factory=dict)
    updated_at: dt.datetime | None = None

    def attributes(self) -> dict[str, Any]:
        """The record as chinwag attributes: ``person.<field>`` and ``company.<field>``."""
        return {**{PERSON_PREFIX + name: value for name, value in self.person.items() if value not in (None, "")},
                **{COMPANY_PREFIX + name: value for name, value in self.company.items() if value not in (None, "")}}


@attrs.frozen
class LeadUpsert:
    """Create or update one lead: the fields the visitor gave (``lead.*``/``company.*`` names)."""

    key: str  # the event's id that carried these fields
    email: str
    fields: Mapping[str, Any]
    visitor_id: str


@attrs.frozen
class Activity:
    """One chat event to record against a lead (``type`` is the event type's name)."""

    key: str  # the event's id: the idempotency key the remote end checks
    type: str
    email: str | None
    visitor_id: str
    session_id: str
    dialogue_id: str
    dialogue_name: str
    page_url: str | None
    occurred_at: dt.datetime
    data: Mapping[str, Any] = attrs.field(factory=dict)
    # Sent before without a recorded outcome (a timeout, a crash): the CRM may have it already.
    # A connector whose remote cannot check ``key`` itself looks it up before sending again.
    retried: bool = False


@attrs.frozen
class ListMembership:
    """Add a lead to a list or program with a status (a Marketo program, a HubSpot list...)."""

    key: str  # the activity's key, so a retried membership is recognisably the same
    email: str
    list_id: str
    status: str | None = None


@attrs.frozen
class CrmActivity:
    """One thing a lead did, as a CRM recorded it (a form fill, an email click, a web visit): its
    id, the lead, the activity type's id, when, the primary attribute's value and the other
    attributes by name."""

    activity_id: str
    lead_id: str
    type_id: int
    occurred_at: dt.datetime
    primary_value: str | None = None
    attributes: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class PullPage:
    """One page of changes since a cursor: the people changed, the activities recorded (of the
    types the integrator chose to pull; none when the connector pulls people only), the next
    cursor and progress so far."""

    records: Sequence[LeadRecord]
    cursor: str | None  # where the next page starts; saved after the page is stored
    done: bool  # no more pages for now (the next sync starts from ``cursor``)
    total: int | None = None  # how many records the whole pull will bring, when the CRM says
    activities: Sequence[CrmActivity] = ()


SYNC_STATES = ("ok", "syncing", "failing", "not_started")


@attrs.frozen
class SyncStatus:
    """How a connector's sync with its CRM stands, as its plugin tells operators (``crm_sync_status``).

    ``state`` is one of ``SYNC_STATES``; ``summary`` one sentence for a person; ``details`` label
    and value pairs (the phase, records so far, the last error, a quota), shown as they are.
    """

    connector: str
    state: str
    summary: str
    details: Mapping[str, str] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.state not in SYNC_STATES:
            raise ValueError(f"a sync state is one of {', '.join(SYNC_STATES)}, not {self.state!r}")


class NotReadyToPull(Exception):
    """Raised by ``pull`` when there is nothing to continue yet (the CRM's own initial sync has not
    run, say). A scheduled pull records it as the connector's last error and says so quietly,
    without a warning, and tries again at its next turn."""


Refusals = Mapping[str, Skipped]  # record key -> why the CRM refused that record for good


@runtime_checkable
class CrmConnector(Protocol):
    """What a CRM connector plugin registers (``register_crm_connectors``)."""

    name: str  # "marketo", "hubspot", "webhook", ...
    batch_size: int  # at most this many events per delivery
    event_types: frozenset[str] | None  # the event types to receive; None for every type
    tracking_cookie: str | None  # the CRM's tracking cookie the widget passes (``_mkto_trk``), if any
    # Optional: ``sync_every`` (seconds) makes serving processes pull changes on that schedule,
    # one process at a time (``chinwag.crm_schedule``).

    async def find_lead(self, *, email: str | None = None, tracking_cookie: str | None = None) -> LeadRecord | None:
        """The lead with this email or tracking cookie, or None (real-time resolution)."""

    async def upsert_leads(self, leads: Sequence[LeadUpsert]) -> Refusals:
        """Create or update leads by email, in one batch."""

    async def record_activities(self, activities: Sequence[Activity]) -> Refusals:
        """Record chat activity, in one batch; each activity's ``key`` makes a retry harmless."""

    def memberships(self, activity: Activity) -> Sequence[ListMembership]:
        """The lists or programs this activity adds its lead to (from the connector's settings)."""

    async def add_to_lists(self, memberships: Sequence[ListMembership]) -> Refusals:
        """Add leads to lists or programs with a status, in one batch."""

    async def pull(self, cursor: str | None) -> PullPage:
        """The next page of people changed, and activities recorded, since ``cursor`` (None: from
        the beginning). chinwag stores the page and the cursor after it in one transaction."""

    async def forget(self, email: str) -> None:
        """Ask the CRM to delete the person, where the integrator configured it to."""

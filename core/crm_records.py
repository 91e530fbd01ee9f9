"""People pulled from CRMs, kept in core tables, and how a visitor is recognised as one of them.

``crm_records`` holds one row per connector and lead id, with an email index, so a visitor who
types an email that a CRM knows is recognised at once, without a call to the CRM, and their
``person.*`` and ``company.*`` fields fill tokens and conditions in the same dialogue.
``crm_sync_state`` keeps each connector's pull cursor, so an interrupted sync resumes where it
stopped. ``crm_activities`` holds what leads did in the CRM (form fills, email clicks, web
visits: the activity types an integrator chooses to pull), indexed by lead, for targeting on
behaviour.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .crm import CrmActivity, CrmConnector, LeadRecord
from .shared_limits import LimiterBusy
from .store import Store, utc, utcnow

if TYPE_CHECKING:
    from .app import Chinwag
    from .metrics import Metrics

log = logging.getLogger("chinwag.crm")

LOOKUP_TIMEOUT = 2.0  # seconds a real-time lookup may hold up a chat turn, at most

metadata = sa.MetaData()

crm_records = sa.Table(
    "crm_records",
    metadata,
    sa.Column("connector", sa.String(100), primary_key=True),
    sa.Column("lead_id", sa.String(200), primary_key=True),
    sa.Column("email", sa.String(320), nullable=True, index=True),  # lower case
    sa.Column("person", sa.JSON, nullable=False),
    sa.Column("company", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),  # when the CRM last changed it
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
)

crm_sync_state = sa.Table(
    "crm_sync_state",
    metadata,
    sa.Column("connector", sa.String(100), primary_key=True),
    sa.Column("cursor", sa.Text, nullable=True),
    sa.Column("rows", sa.BigInteger, nullable=False),  # records stored by all pulls so far
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

crm_activities = sa.Table(
    "crm_activities",
    metadata,
    sa.Column("connector", sa.String(100), primary_key=True),
    sa.Column("activity_id", sa.String(200), primary_key=True),  # the CRM's own id (Marketo: marketoGUID)
    sa.Column("lead_id", sa.String(200), nullable=False),
    sa.Column("type_id", sa.Integer, nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("primary_value", sa.Text, nullable=True),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Index("ix_crm_activities_lead", "connector", "lead_id"),
)


def _upsert(connection: Any, table: sa.Table, keys: Sequence[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE of every other column, on SQLite and PostgreSQL alike."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    updated = {column.name: statement.excluded[column.name] for column in table.columns if column.name not in keys}
    return statement.on_conflict_do_update(index_elements=list(keys), set_=updated)


def record_problem(record: Any) -> str | None:
    """What is wrong with a record a connector returned, or None: a CRM's answer is checked before
    it is stored, so one bad record is refused where it enters instead of failing a whole page."""
    if not isinstance(record, LeadRecord):
        return f"not a LeadRecord: {type(record).__name__}"
    if not isinstance(record.lead_id, str) or not 0 < len(record.lead_id) <= 200:
        return f"lead id must be text of 1 to 200 characters: {str(record.lead_id)[:40]!r}"
    if record.email is not None and (not isinstance(record.email, str) or len(record.email) > 320):
        return f"email must be text of at most 320 characters (lead {record.lead_id})"
    for part in ("person", "company"):
        fields = getattr(record, part)
        if not isinstance(fields, Mapping) or not all(isinstance(name, str) for name in fields):
            return f"{part} must map field names to values (lead {record.lead_id})"
        if not all(value is None or isinstance(value, (str, int, float, bool)) for value in fields.values()):
            return f"{part} fields must be text, numbers, true/false or empty (lead {record.lead_id})"
    return None


def _record_rows(connector: str, records: Sequence[LeadRecord]) -> list[dict[str, Any]]:
    """The rows of the records that pass ``record_problem``; the others are logged and left out."""
    now = utcnow()
    rows = []
    for record in records:
        problem = record_problem(record)
        if problem is not None:
            log.warning("CRM %s returned a record chinwag refused: %s", connector, problem)
            continue
        rows.append({"connector": connector, "lead_id": record.lead_id,
                     "email": record.email.strip().lower() if record.email else None,
                     "person": dict(record.person), "company": dict(record.company),
                     "updated_at": record.updated_at, "synced_at": now})
    return rows


async def _store_rows(store: Store, table: sa.Table, keys: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """Upsert ``rows`` into ``table`` by ``keys``, in one transaction (nothing when there are none)."""
    if rows:
        async with store.transaction() as connection:
            await connection.execute(_upsert(connection, table, keys), rows)


async def store_records(store: Store, connector: str, records: Sequence[LeadRecord]) -> None:
    """Insert or update pulled records (by connector and lead id)."""
    await _store_rows(store, crm_records, ("connector", "lead_id"), _record_rows(connector, records))


def activity_problem(activity: Any) -> str | None:
    """What is wrong with an activity a connector returned, or None (checked before it is stored)."""
    if not isinstance(activity, CrmActivity):
        return f"not a CrmActivity: {type(activity).__name__}"
    for name in ("activity_id", "lead_id"):
        value = getattr(activity, name)
        if not isinstance(value, str) or not 0 < len(value) <= 200:
            return f"{name} must be text of 1 to 200 characters: {str(value)[:40]!r}"
    if not isinstance(activity.type_id, int) or isinstance(activity.type_id, bool):
        return f"type_id must be a whole number (activity {activity.activity_id})"
    if not isinstance(activity.occurred_at, dt.datetime):
        return f"occurred_at must be a date and time (activity {activity.activity_id})"
    if activity.primary_value is not None and not isinstance(activity.primary_value, str):
        return f"primary_value must be text or empty (activity {activity.activity_id})"
    if not isinstance(activity.attributes, Mapping) or not all(isinstance(name, str) for name in activity.attributes):
        return f"attributes must map names to values (activity {activity.activity_id})"
    return None


def _activity_rows(connector: str, activities: Sequence[CrmActivity]) -> list[dict[str, Any]]:
    """The rows of ``crm_activities`` for the activities that pass ``activity_problem`` (times in
    UTC); the others are logged and left out."""
    rows = []
    for activity in activities:
        problem = activity_problem(activity)
        if problem is not None:
            log.warning("CRM %s returned an activity chinwag refused: %s", connector, problem)
            continue
        rows.append({"connector": connector, "activity_id": activity.activity_id, "lead_id": activity.lead_id,
                     "type_id": activity.type_id, "occurred_at": utc(activity.occurred_at),
                     "primary_value": activity.primary_value, "attributes": dict(activity.attributes)})
    return rows


async def store_activities(store: Store, connector: str, activities: Sequence[CrmActivity]) -> None:
    """Insert or update pulled activities (by connector and activity id): storing one twice is harmless."""
    await _store_rows(store, crm_activities, ("connector", "activity_id"), _activity_rows(connector, activities))


async def activities_for_lead(store: Store, connector: str, lead_id: str,
                              type_ids: Sequence[int] | None = None) -> list[CrmActivity]:
    """A lead's stored activities (of ``type_ids`` when given), oldest first."""
    query = sa.select(crm_activities).where(crm_activities.c.connector == connector,
                                            crm_activities.c.lead_id == lead_id)
    if type_ids is not None:
        query = query.where(crm_activities.c.type_id.in_(list(type_ids)))
    async with store.connect() as connection:
        rows = (await connection.execute(query.order_by(crm_activities.c.occurred_at, crm_activities.c.activity_id))).all()
    return [CrmActivity(row.activity_id, row.lead_id, row.type_id, utc(row.occurred_at),  # type: ignore[arg-type]
                        row.primary_value, row.attributes) for row in rows]


async def records_for_email(store: Store, email: str) -> list[LeadRecord]:
    """Every stored record with this email, most recently synced first."""
    query = (sa.select(crm_records).where(crm_records.c.email == email.strip().lower())
             .order_by(crm_records.c.synced_at.desc()))
    async with store.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [LeadRecord(row.lead_id, row.email, row.person, row.company, utc(row.updated_at)) for row in rows]


async def _look_up(app: Chinwag, connector: CrmConnector, **lookup: str) -> LeadRecord | None:
    """One real-time ``find_lead``, bounded by ``LOOKUP_TIMEOUT``; a record found is checked and
    stored for next time. A connector that fails, is slow or has no room is logged and skipped:
    the chat never waits longer."""
    assert app.store is not None, "the app has not started"
    try:
        found = await app.metrics.crm(connector.name, "find_lead",
                                      asyncio.wait_for(connector.find_lead(**lookup), LOOKUP_TIMEOUT))
    except LimiterBusy:  # the lookups' share of the CRM's rate is used up for now: expected under load
        log.debug("CRM %s: no room for a real-time lookup", connector.name)
        return None
    except Exception as error:  # a CRM outage must not break or stall the chat
        log.warning("CRM %s could not look up a lead: %s", connector.name, error)
        return None
    problem = record_problem(found) if found is not None else "nothing found"
    if problem is not None:
        if found is not None:
            log.warning("CRM %s returned a record chinwag refused: %s", connector.name, problem)
        return None
    await store_records(app.store, connector.name, [found])
    return found


async def recognise(app: Chinwag, email: str) -> dict[str, Any]:
    """The ``person.*`` and ``company.*`` attributes CRMs know for ``email`` (empty when none).

    Stored records answer first; when none is stored, each connector is asked in real time.
    """
    assert app.store is not None, "the app has not started"
    email = email.strip().lower()  # as stored; CRMs match emails without regard to case
    records = await records_for_email(app.store, email)
    if not records:
        for connector in app.crm_connectors:
            found = await _look_up(app, connector, email=email)
            if found is not None:
                records.append(found)
    attributes: dict[str, Any] = {}
    for record in reversed(records):  # the most recently synced record wins
        attributes.update(record.attributes())
    return attributes


async def recognise_by_cookie(app: Chinwag, tracking: Mapping[str, str]) -> dict[str, Any]:
    """What CRMs know about the visitor whose page carries these tracking cookies (``hello.tracking``):
    each connector that names its cookie (``tracking_cookie``) and finds it here is asked in real time."""
    attributes: dict[str, Any] = {}
    for connector in app.crm_connectors:
        cookie = getattr(connector, "tracking_cookie", None)
        if cookie and tracking.get(cookie):
            found = await _look_up(app, connector, tracking_cookie=tracking[cookie])
            if found is not None:
                attributes.update(found.attributes())
    return attributes


@attrs.frozen
class SyncProgress:
    """Where a pull stands: records stored in this run and in all, the page count, the cursor,
    the records refused in this run (see ``record_problem``) and the activities stored in it."""

    connector: str
    rows: int
    total_rows: int
    pages: int
    cursor: str | None
    total: int | None
    done: bool
    refused: int = 0
    activities: int = 0  # activities stored in this run


async def sync_state(store: Store, connector: str) -> dict[str, Any] | None:
    """The saved cursor, row count, last error and time of a connector's pulls (None: never pulled)."""
    async with store.connect() as connection:
        row = (await connection.execute(sa.select(crm_sync_state).where(crm_sync_state.c.connector == connector))).first()
    if row is None:
        return None
    return {"connector": row.connector, "cursor": row.cursor, "rows": row.rows, "last_error": row.last_error,
            "updated_at": utc(row.updated_at).isoformat()}  # type: ignore[union-attr]


async def pull(store: Store, connector: CrmConnector, on_page: Callable[[SyncProgress], None] | None = None,
               max_pages: int | None = None, metrics: Metrics | None = None) -> SyncProgress:
    """Pull pages from the connector's saved cursor until it is done (or ``max_pages``); each page's
    call is counted in ``metrics`` when given (a serving process's scheduled pull).

    Each page's records, activities and the cursor after it are stored in one transaction, so a sync that is
    interrupted (or killed) resumes after the last stored page and stores no page twice.
    """
    state = await sync_state(store, connector.name)
    cursor, total_rows = (state["cursor"], state["rows"]) if state else (None, 0)
    progress = SyncProgress(connector.name, 0, total_rows, 0, cursor, None, False)
    while True:
        try:
            page = await (metrics.crm(connector.name, "pull", connector.pull(cursor)) if metrics is not None
                          else connector.pull(cursor))
        except Exception as error:
            await _save_error(store, connector.name, f"{type(error).__name__}: {error}")
            raise
        rows = _record_rows(connector.name, page.records)
        activity_rows = _activity_rows(connector.name, page.activities)
        async with store.transaction() as connection:
            if rows:
                await connection.execute(_upsert(connection, crm_records, ("connector", "lead_id")), rows)
            if activity_rows:
                await connection.execute(_upsert(connection, crm_activities, ("connector", "activity_id")),
                                         activity_rows)
            total_rows += len(rows)
            await connection.execute(_upsert(connection, crm_sync_state, ("connector",)), [{
                "connector": connector.name, "cursor": page.cursor, "rows": total_rows, "last_error": None,
                "updated_at": utcnow()}])
        cursor = page.cursor
        progress = SyncProgress(connector.name, progress.rows + len(rows), total_rows, progress.pages + 1, cursor,
                                page.total, page.done,
                                progress.refused + len(page.records) - len(rows) + len(page.activities) - len(activity_rows),
                                progress.activities + len(activity_rows))
        if on_page is not None:
            on_page(progress)
        if page.done or (max_pages is not None and progress.pages >= max_pages):
            return progress


async def _save_error(store: Store, connector: str, error: str) -> None:
    async with store.transaction() as connection:
        updated = await connection.execute(sa.update(crm_sync_state).where(crm_sync_state.c.connector == connector)
                                           .values(last_error=error, updated_at=utcnow()))
        if not updated.rowcount:
            await connection.execute(sa.insert(crm_sync_state).values(
                connector=connector, cursor=None, rows=0, last_error=error, updated_at=utcnow()))


async def forget_records(store: Store, email: str) -> int:
    """Delete every stored CRM record with this email, and those leads' activities; return how many records."""
    async with store.transaction() as connection:
        records, _ = await delete_records_of(connection, email)
    return records


async def delete_records_of(connection: Any, email: str) -> tuple[int, int]:
    """In the caller's transaction, delete the CRM records with this email and their leads'
    activities; return how many of each."""
    matching = crm_records.c.email == email.strip().lower()
    activities = 0
    for connector, lead_id in (await connection.execute(sa.select(crm_records.c.connector, crm_records.c.lead_id)
                                                        .where(matching))).all():
        deleted = await connection.execute(sa.delete(crm_activities).where(crm_activities.c.connector == connector,
                                                                         crm_activities.c.lead_id == lead_id))
        activities += int(deleted.rowcount or 0)
    records = await connection.execute(sa.delete(crm_records).where(matching))
    return int(records.rowcount or 0), activities

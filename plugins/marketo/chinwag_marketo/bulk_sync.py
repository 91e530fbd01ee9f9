"""The initial sync through Marketo's Bulk Extract API: every lead, by ``updatedAt`` windows,
then the activities of the types the integrator picks (``sync_activity_types``), by ``createdAt``.

The REST ``leads.json`` call answers 300 leads at a time within 100 calls per 20 s; a database
of millions would take days. A bulk export answers a whole window (at most 31 days) as one CSV
file. One window at a time: Marketo allows 2 jobs processing and 10 queued for the whole
instance, shared with every other integration, so taking one place is the polite share; a
"Too many jobs in queue" or "Export daily quota exceeded" (1029) is waited out, never failed.

The file is streamed: read in network chunks, parsed row by row and stored 2,000 rows per
transaction, so memory stays flat whatever the export's size. The cursor in ``crm_sync_state``
(``{"phase": "bulk", "window_end": ...}``) moves in the same transaction as each window's last
batch: an interrupted sync restarts at the first unfinished window (reusing its export job when
Marketo still has it) and counts no row twice.

Activities come after every lead window, not interleaved with them: leads are what recognising a
visitor needs, so they are complete first, and a second phase over the same span keeps each
phase's windows back to back and its resume point a single date. Their progress is in the same
cursor (``activities_window_end``, ``activities_windows_done``, ``activities_rows``, and the
``activity_types`` it exports: other types start the phase again). Rows go to ``crm_activities``,
2,000 per transaction, upserted by ``marketoGUID``.

When the last window of both phases is stored, the cursor becomes an activities paging token for
the sync's start time, so the incremental pull (``MarketoConnector.pull``) continues from there
without a gap.
"""

from __future__ import annotations

import asyncio
import csv
import io
import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import attrs
import httpx
from chinwag.crm_records import (CrmActivity, _activity_rows, _record_rows, _save_error, _upsert, crm_activities,
                                 crm_records, crm_sync_state, sync_state)
from chinwag.outbox import PauseDelivery, RetryLater
from chinwag.store import Store, utcnow

from .client import MarketoError
from .connector import MarketoConnector

log = logging.getLogger("chinwag.marketo")

PHASE = "bulk"
LEADS, ACTIVITIES = "leads", "activities"  # the two exports, in this order
MAX_WINDOW_DAYS = 31  # Marketo refuses a wider date filter
DEFAULT_HISTORY_DAYS = 730  # without --since: two years back
BATCH_ROWS = 2000  # rows per transaction: large enough to be fast, small enough to stay flat in memory
RETRIES = 20  # transient failures in a row before giving up on a call
QUEUE_FULL = "1029"
FILE_KEPT = dt.timedelta(days=6)  # an export job's file is reused by a restart while younger than this


@attrs.frozen
class BulkOptions:
    """How the bulk phase paces itself. Production defaults; tests shorten the waits."""

    window_days: int = MAX_WINDOW_DAYS
    poll_seconds: float = 10.0  # between status calls; Marketo updates a job's status at most every 60 s
    queue_wait_seconds: float = 60.0  # after a 1029 (queue full or the day's export quota spent)
    retry_seconds: float = 5.0  # after a transient failure that names no wait of its own
    batch_rows: int = BATCH_ROWS


@attrs.frozen
class BulkProgress:
    """Where the bulk phase stands: lead rows (and activities) stored in this run and in all,
    windows done of all (both exports), and which export is running."""

    rows: int
    total_rows: int
    windows_done: int
    windows_total: int
    elapsed: float
    window_end: str | None
    done: bool
    eta: float | None = None  # seconds left, judged by this run's windows (None before the first)
    waiting: str | None = None  # why the sync is waiting right now, if it is
    phase: str = LEADS  # the export running: "leads" or "activities"
    activities: int = 0
    total_activities: int = 0

    @property
    def rate(self) -> float:
        """Rows (leads and activities) stored per second in this run."""
        return (self.rows + self.activities) / max(self.elapsed, 1e-6)


@attrs.define
class BulkCursor:
    """The saved bulk phase: the whole span (``since`` to ``until``, the sync's start time), the
    end of the last stored lead window and activity window, and the export job of the window in
    progress (of ``export_kind``)."""

    since: dt.datetime
    until: dt.datetime
    window_end: dt.datetime
    windows_done: int = 0
    export_id: str | None = None
    export_end: dt.datetime | None = None  # the end of the window the export job covers
    export_kind: str = LEADS
    activity_types: tuple[int, ...] = ()  # the activity type ids the activities export covers
    activities_window_end: dt.datetime | None = None  # None: the activities export has not begun
    activities_windows_done: int = 0
    activities_rows: int = 0  # activities stored by the bulk phase so far

    def dump(self) -> str:
        """The cursor text stored in ``crm_sync_state``."""
        return json.dumps({"phase": PHASE, "since": _iso(self.since), "until": _iso(self.until),
                           "window_end": _iso(self.window_end), "windows_done": self.windows_done,
                           "export_id": self.export_id,
                           "export_end": _iso(self.export_end) if self.export_end else None,
                           "export_kind": self.export_kind, "activity_types": list(self.activity_types),
                           "activities_window_end": _iso(self.activities_window_end)
                           if self.activities_window_end else None,
                           "activities_windows_done": self.activities_windows_done,
                           "activities_rows": self.activities_rows})

    def end_of(self, kind: str) -> dt.datetime:
        """The end of the last stored window of ``kind`` (the span's start when none is)."""
        return self.window_end if kind == LEADS else self.activities_window_end or self.since

    def after(self, kind: str, end: dt.datetime, rows: int) -> BulkCursor:
        """This cursor once the ``kind`` window ending at ``end`` is stored with ``rows`` rows."""
        moved = attrs.evolve(self, export_id=None, export_end=None)
        if kind == LEADS:
            return attrs.evolve(moved, window_end=end, windows_done=self.windows_done + 1)
        return attrs.evolve(moved, activities_window_end=end, activities_windows_done=self.activities_windows_done + 1,
                            activities_rows=self.activities_rows + rows)

    @classmethod
    def load(cls, text: str | None) -> BulkCursor | None:
        """The bulk cursor in ``text``, or None when it is none (no sync yet, or a paging token)."""
        if not is_bulk_cursor(text):
            return None
        data = json.loads(text or "")
        return cls(_parse(data["since"]), _parse(data["until"]), _parse(data["window_end"]),
                   int(data.get("windows_done") or 0), data.get("export_id"),
                   _parse(data["export_end"]) if data.get("export_end") else None,
                   data.get("export_kind") or LEADS, tuple(int(i) for i in data.get("activity_types") or ()),
                   _parse(data["activities_window_end"]) if data.get("activities_window_end") else None,
                   int(data.get("activities_windows_done") or 0), int(data.get("activities_rows") or 0))


def is_bulk_cursor(text: str | None) -> bool:
    """Whether a saved cursor belongs to an unfinished bulk phase (a paging token does not)."""
    if not text or not text.startswith("{"):
        return False
    try:
        return json.loads(text).get("phase") == PHASE
    except ValueError:
        return False


def windows(since: dt.datetime, until: dt.datetime, days: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """``[since, until)`` cut into windows of at most ``days`` (``end`` exclusive, whole seconds)."""
    step = dt.timedelta(days=min(days, MAX_WINDOW_DAYS))
    cuts, start = [], since
    while start < until:
        end = min(start + step, until)
        cuts.append((start, end))
        start = end
    return cuts


class BulkSync:
    """One run of the bulk phase for a connector over a store; ``run()`` does it."""

    def __init__(self, store: Store, connector: MarketoConnector, options: BulkOptions | None = None,
                 on_progress: Callable[[BulkProgress], None] | None = None) -> None:
        self.store, self.connector, self.client = store, connector, connector.client
        self.options = options or BulkOptions()
        self.on_progress = on_progress
        self.started = time.monotonic()
        self.rows = 0
        self.total_rows = 0
        self.activities = 0
        self.total_activities = 0
        self.windows_done = 0
        self.windows_total = 0
        self.done_at_start = 0
        self.phase = LEADS

    async def run(self, since: dt.datetime | None = None, now: dt.datetime | None = None) -> BulkProgress:
        """Export and store every lead window, then every activity window (when activity types are
        chosen), from where the saved cursor stopped (or ``since``) to the sync's start time; then
        leave a paging token for the incremental pull."""
        state = await sync_state(self.store, self.connector.name)
        self.total_rows = state["rows"] if state else 0
        cursor = BulkCursor.load(state["cursor"] if state else None)
        now = _whole(now or dt.datetime.now(dt.timezone.utc))
        if cursor is None or (since is not None and _whole(since) != cursor.since):
            start = _whole(since or now - dt.timedelta(days=DEFAULT_HISTORY_DAYS))
            cursor = BulkCursor(start, now, start)
        types = tuple(self.connector.settings.sync_activity_types)
        if types != cursor.activity_types:  # other types than the saved progress covers: their export from the start
            cursor = attrs.evolve(cursor, activity_types=types, activities_window_end=None, activities_windows_done=0,
                                  export_id=None if cursor.export_kind == ACTIVITIES else cursor.export_id)
        self.total_activities = cursor.activities_rows
        # From where the last run stopped, so another --window-days on the next run leaves no gap.
        todo = [(LEADS, *cut) for cut in windows(cursor.window_end, cursor.until, self.options.window_days)]
        if types:
            todo += [(ACTIVITIES, *cut) for cut in windows(cursor.end_of(ACTIVITIES), cursor.until,
                                                           self.options.window_days)]
        self.windows_done = self.done_at_start = cursor.windows_done + cursor.activities_windows_done
        self.windows_total = self.windows_done + len(todo)
        self.phase = todo[0][0] if todo else LEADS  # a resumed run may start in the activities phase
        self._report(cursor.window_end, done=False)
        try:
            for kind, start, end in todo:
                self.phase = kind
                cursor = await self._window(cursor, kind, start, end)
                self.windows_done += 1
                self._report(cursor.end_of(kind), done=False)
            token = await self._call(lambda: self.connector._paging_token(cursor.until))
        except Exception as error:  # kept for ``chinwag marketo status``; the cursor stays where it is
            await _save_error(self.store, self.connector.name, f"{type(error).__name__}: {error}")
            raise
        await self._save(cursor=token)
        return self._report(cursor.until, done=True)

    # -- one window --------------------------------------------------------------------------------

    async def _window(self, cursor: BulkCursor, kind: str, start: dt.datetime, end: dt.datetime) -> BulkCursor:
        """Export, stream and store one window of ``kind``; the cursor after it."""
        export_id = cursor.export_id if cursor.export_end == end and cursor.export_kind == kind else None
        if export_id is None or not await self._reusable(kind, export_id):
            export_id = await self._create(kind, cursor.activity_types, start, end)
            cursor = attrs.evolve(cursor, export_id=export_id, export_end=end, export_kind=kind)
            await self._save(cursor=cursor.dump())  # a restart finds this job instead of making another
        await self._enqueue(kind, export_id)
        await self._completed(kind, export_id)
        for attempt in range(RETRIES):
            window_rows = 0
            try:
                async for batch, last in self._batches(kind, export_id):
                    window_rows += len(batch)
                    # The window's last batch and the cursor after it go together: a restart resumes
                    # after the last whole window, and rows are counted once whatever was stored before.
                    done = cursor.after(kind, end, window_rows).dump() if last else None
                    await self._store(kind, batch, done, window_rows if last else 0)
                break
            except (RetryLater, httpx.HTTPError) as error:  # the file from the start; upserts make that harmless
                if attempt == RETRIES - 1:
                    raise RetryLater(f"the file of export {export_id} could not be read: {error}") from error
                log.warning("Marketo bulk sync: reading export %s failed (%s); reading it again", export_id, error)
                await asyncio.sleep(getattr(error, "after", None) or self.options.retry_seconds)
        return cursor.after(kind, end, window_rows)

    async def _create(self, kind: str, type_ids: tuple[int, ...], start: dt.datetime, end: dt.datetime) -> str:
        dates = {"startAt": _iso(start), "endAt": _iso(end - dt.timedelta(seconds=1))}  # Marketo's ends are inclusive
        if kind == LEADS:
            body: dict[str, Any] = {"fields": list(dict.fromkeys(self.connector._fields)), "format": "CSV",
                                    "filter": {"updatedAt": dates}}
        else:
            body = {"format": "CSV", "filter": {"createdAt": dates, "activityTypeIds": list(type_ids)}}
        answer = await self._call(lambda: self.client.request("POST", f"/bulk/v1/{kind}/export/create.json", json=body))
        return str(answer["result"][0]["exportId"])

    async def _reusable(self, kind: str, export_id: str) -> bool:
        """Whether a job a previous run made for this window can still deliver its file."""
        try:
            job = await self._job(kind, export_id)
        except MarketoError:  # expired or unknown: make a new one
            return False
        finished = job.get("finishedAt")
        if job.get("status") == "Completed" and isinstance(finished, str):
            # Marketo keeps files 7 days (one passage says 10): an older one may be gone mid-download.
            return _parse(finished) > dt.datetime.now(dt.timezone.utc) - FILE_KEPT
        return job.get("status") in ("Created", "Queued", "Processing")

    async def _job(self, kind: str, export_id: str) -> dict[str, Any]:
        answer = await self._call(lambda: self.client.request("GET", f"/bulk/v1/{kind}/export/{export_id}/status.json"))
        return dict(answer["result"][0])

    async def _status(self, kind: str, export_id: str) -> str:
        return str((await self._job(kind, export_id))["status"])

    async def _enqueue(self, kind: str, export_id: str) -> None:
        while True:
            if await self._status(kind, export_id) != "Created":
                return  # queued already (by a previous run, or an enqueue whose answer was lost)
            try:
                await self._call(lambda: self.client.request("POST", f"/bulk/v1/{kind}/export/{export_id}/enqueue.json"))
                return
            except MarketoError as error:
                if error.code != QUEUE_FULL:
                    raise
                # The queue is the whole instance's, the quota the whole day's: wait our turn.
                self._report(None, done=False, waiting=f"Marketo {error.code}: {error.message}")
                await asyncio.sleep(self.options.queue_wait_seconds)

    async def _completed(self, kind: str, export_id: str) -> None:
        while True:
            status = await self._status(kind, export_id)
            if status == "Completed":
                return
            if status in ("Failed", "Cancelled", "Canceled"):
                raise MarketoError("bulk", f"export job {export_id} ended {status}")
            await asyncio.sleep(self.options.poll_seconds)

    # -- the file ----------------------------------------------------------------------------------

    async def _batches(self, kind: str, export_id: str) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
        """The file's rows as stored rows, ``batch_rows`` at a time; the flag marks the last batch."""
        size = self.options.batch_rows
        convert = self._lead_rows if kind == LEADS else self._activity_rows
        pending: list[dict[str, Any]] = []
        header: list[str] | None = None
        async with self.client.stream(f"/bulk/v1/{kind}/export/{export_id}/file.json") as response:
            async for rows in csv_rows(response.aiter_text()):
                for row in rows:
                    if header is None:
                        header = row
                        continue
                    pending.append(dict(zip(header, (None if value == "null" else value for value in row))))
                    if len(pending) > size:  # keep one back, so the last batch is known as last
                        batch = convert(pending[:size])
                        del pending[:size]
                        yield batch, False
        yield convert(pending), True

    def _lead_rows(self, leads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _record_rows(self.connector.name, [self.connector._record(lead) for lead in leads])

    def _activity_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        activities = []
        for row in rows:
            activity = activity_from_csv(row)
            if activity is None:
                log.warning("Marketo bulk sync: an activity row chinwag could not read was left out: %s",
                            str(row)[:200])
            else:
                activities.append(activity)
        return _activity_rows(self.connector.name, activities)

    async def _store(self, kind: str, rows: list[dict[str, Any]], cursor: str | None, counted: int) -> None:
        leads = kind == LEADS
        async with self.store.transaction() as connection:
            if rows:
                table, key = (crm_records, "lead_id") if leads else (crm_activities, "activity_id")
                await connection.execute(_upsert(connection, table, ("connector", key)), rows)
            if cursor is not None:
                await connection.execute(_upsert(connection, crm_sync_state, ("connector",)), [{
                    "connector": self.connector.name, "cursor": cursor,
                    "rows": self.total_rows + (counted if leads else 0), "last_error": None, "updated_at": utcnow()}])
        if cursor is not None and leads:
            self.total_rows += counted
        elif cursor is not None:
            self.total_activities += counted
        if leads:
            self.rows += len(rows)
        else:
            self.activities += len(rows)
        if len(rows) and self.on_progress is not None:
            self._report(None, done=False)

    async def _save(self, cursor: str) -> None:
        async with self.store.transaction() as connection:
            await connection.execute(_upsert(connection, crm_sync_state, ("connector",)), [{
                "connector": self.connector.name, "cursor": cursor, "rows": self.total_rows,
                "last_error": None, "updated_at": utcnow()}])

    # -- helpers -----------------------------------------------------------------------------------

    async def _call(self, call: Callable[[], Any]) -> Any:
        """``await call()``, again after a transient failure (rate limit, outage); a daily quota
        or a refusal stops the sync, with the cursor where it is."""
        for attempt in range(RETRIES):
            try:
                return await call()
            except PauseDelivery:
                raise
            except RetryLater as error:
                if attempt == RETRIES - 1:
                    raise
                log.warning("Marketo bulk sync: %s; trying again", error)
                await asyncio.sleep(error.after or self.options.retry_seconds)
        raise AssertionError("unreachable")

    def _report(self, window_end: dt.datetime | None, done: bool, waiting: str | None = None) -> BulkProgress:
        progress = BulkProgress(self.rows, self.total_rows, self.windows_done, self.windows_total,
                                time.monotonic() - self.started, _iso(window_end) if window_end else None, done,
                                self.eta(), waiting, self.phase, self.activities, self.total_activities)
        if self.on_progress is not None:
            self.on_progress(progress)
        return progress

    def eta(self) -> float | None:
        """Seconds left, judged by the windows this run has done (None before the first)."""
        done = self.windows_done - self.done_at_start
        if done <= 0:
            return None
        return (time.monotonic() - self.started) / done * (self.windows_total - self.windows_done)


def activity_from_csv(row: dict[str, Any]) -> CrmActivity | None:
    """An activity from a row of a bulk activity file (``null`` already None), or None when the row
    lacks its id, lead, type or date. ``attributes`` is a JSON object in its cell."""
    if any(row.get(column) is None for column in ("marketoGUID", "leadId", "activityTypeId", "activityDate")):
        return None
    try:
        attributes = json.loads(row["attributes"]) if row.get("attributes") else {}
        return CrmActivity(str(row["marketoGUID"]), str(row["leadId"]), int(row["activityTypeId"]),
                           _parse(str(row["activityDate"])), row.get("primaryAttributeValue"),
                           attributes if isinstance(attributes, dict) else {})
    except (KeyError, TypeError, ValueError):
        return None


async def csv_rows(chunks: AsyncIterator[str]) -> AsyncIterator[list[list[str]]]:
    """CSV rows from text arriving in arbitrary chunks: each chunk's complete records, parsed.

    A record ends at a newline outside quotes; the count of quote characters tells which (``""``
    escapes keep it even), so a value with a line break inside is never cut in two.
    """
    carry = ""
    async for chunk in chunks:
        text = carry + chunk
        cut = _last_record_end(text)
        carry = text[cut:]
        if cut:
            yield list(csv.reader(_lines(text[:cut])))
    if carry:
        yield list(csv.reader(_lines(carry)))


def _last_record_end(text: str) -> int:
    """The index just after the last newline in ``text`` that ends a record (0: none)."""
    end = text.rfind("\n")
    while end >= 0:
        if text.count('"', 0, end) % 2 == 0:
            return end + 1
        end = text.rfind("\n", 0, end)
    return 0


def _lines(text: str) -> Iterator[str]:
    return iter(io.StringIO(text, newline=""))  # lines as csv wants them: only real line ends cut


def _whole(moment: dt.datetime) -> dt.datetime:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).replace(microsecond=0)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> dt.datetime:
    return _whole(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))


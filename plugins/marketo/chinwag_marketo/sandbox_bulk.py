"""Bulk Extract jobs for leads and activities: validation, the job lifecycle, the queue and the CSV file.

The job moves Created -> Queued (enqueue) -> Processing -> Completed, one step every
``step_seconds`` (looked at whenever the job is read), or at once with ``complete_immediately``,
or on demand with ``advance()``. The records are chosen when processing starts; the file is
generated row by row from that snapshot each time it is downloaded, so 200,000 leads never sit in
memory as one string.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from .sandbox_limits import MarketoError

MAX_PROCESSING = 2
MAX_QUEUED = 10  # queued and processing together
MAX_WINDOW = dt.timedelta(days=31)
LEAD_FILTERS = ("createdAt", "updatedAt", "staticListName", "staticListId", "smartListName", "smartListId")
DATE_FILTERS = ("createdAt", "updatedAt")
ACTIVITY_COLUMNS = ["marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
                    "primaryAttributeValueId", "primaryAttributeValue", "attributes"]
ROWS_PER_CHUNK = 500


def parse_instant(text: Any) -> dt.datetime | None:
    """An ISO 8601 time as an aware UTC datetime (naive means UTC), or None when it does not parse."""
    try:
        moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=moment.tzinfo or dt.timezone.utc).astimezone(dt.timezone.utc)


def zulu(moment: dt.datetime) -> str:
    """``2026-01-31T12:00:00Z``: the form Marketo answers with; it sorts as text in time order."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.define
class DateWindow:
    """The one date filter of a job: which record field and the inclusive ``[start, end]`` in Zulu text."""

    field: str
    start: str
    end: str

    def contains(self, value: str | None) -> bool:
        """Whether a record's date (Zulu text) falls in the window."""
        return value is not None and self.start <= value <= self.end


@attrs.define
class ExportJob:
    """One bulk extract job and, once processed, the records its file holds."""

    export_id: str
    kind: str  # "leads" or "activities"
    fields: list[str]
    headers: list[str]
    window: DateWindow
    activity_type_ids: list[int] | None = None
    format: str = "CSV"
    status: str = "Created"
    created_at: float = attrs.field(factory=time.time)
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    records: list[dict[str, Any]] | None = None
    file_size: int | None = None
    checksum: str | None = None

    def describe(self) -> dict[str, Any]:
        """The job as the create, enqueue, status and cancel endpoints answer it."""
        answer: dict[str, Any] = {"exportId": self.export_id, "format": self.format, "status": self.status,
                                  "createdAt": _stamp(self.created_at)}
        if self.queued_at:
            answer["queuedAt"] = _stamp(self.queued_at)
        if self.started_at:
            answer["startedAt"] = _stamp(self.started_at)
        if self.status == "Completed":
            answer.update(finishedAt=_stamp(self.finished_at), numberOfRecords=len(self.records or []),
                          fileSize=self.file_size, fileChecksum=f"sha256:{self.checksum}")
        return answer

    def rows(self) -> Iterator[list[Any]]:
        """The CSV rows, header first; empty values are ``null``, as Marketo writes them."""
        yield self.headers
        for record in self.records or []:
            if self.kind == "activities":
                values = [json.dumps({a["name"]: a["value"] for a in record.get("attributes", [])})
                          if column == "attributes" else record.get(column) for column in self.fields]
            else:
                values = [record.get(field) for field in self.fields]
            yield ["null" if value is None or value == "" else _text(value) for value in values]

    def chunks(self) -> Iterator[bytes]:
        """The whole file as UTF-8 bytes, a few hundred rows at a time."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for number, row in enumerate(self.rows(), 1):
            writer.writerow(row)
            if number % ROWS_PER_CHUNK == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode()

    def byte_range(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` (inclusive) of the file, generated without holding the whole file."""
        offset = 0
        for chunk in self.chunks():
            chunk_end = offset + len(chunk)
            if chunk_end > start and offset <= end:
                yield chunk[max(0, start - offset): end + 1 - offset]
            if chunk_end > end:
                return
            offset = chunk_end


@attrs.define
class BulkExports:
    """Every bulk extract job, the queue rules and the daily export quota (bytes)."""

    select: Callable[[ExportJob], list[dict[str, Any]]]  # the records a job extracts, chosen by the state
    step_seconds: float = 2.0
    complete_immediately: bool = False
    daily_export_quota: int = 500 * 1024 * 1024
    exported_bytes_today: int = 0
    jobs: dict[str, ExportJob] = attrs.field(factory=dict)
    refusals: list[str] = attrs.field(factory=list)  # each enqueue refused, by its message, for tests to wait on

    def create(self, kind: str, body: dict[str, Any], default_fields: list[str]) -> ExportJob:
        """A new job in status Created, or MarketoError 1003 / 1035 for a filter Marketo would refuse."""
        filters = dict(body.get("filter") or {})
        activity_type_ids = filters.pop("activityTypeIds", None) if kind == "activities" else None
        for ignored in ("primaryAttributeValueIds", "primaryAttributeValues"):  # accepted, not applied
            filters.pop(ignored, None)
        allowed = LEAD_FILTERS if kind == "leads" else ("createdAt",)
        unknown = [name for name in filters if name not in allowed]
        if unknown:
            raise MarketoError("1003", f"Invalid filter type: {unknown[0]}")
        if len(filters) != 1:
            raise MarketoError("1003", "Exactly one filter is required")
        (field, value), = filters.items()
        if field not in DATE_FILTERS:
            raise MarketoError("1035", f"Unsupported filter type for target subscription: {field}")
        window = _window(field, value)
        fields = list(body.get("fields") or default_fields)
        if kind == "leads" and not body.get("fields"):
            raise MarketoError("1003", "fields cannot be blank")
        renamed = body.get("columnHeaderNames") or {}
        job = ExportJob(str(uuid.uuid4()), kind, fields, [renamed.get(f, f) for f in fields], window,
                        [int(i) for i in activity_type_ids] if activity_type_ids else None,
                        body.get("format", "CSV"))
        self.jobs[job.export_id] = job
        return job

    def job(self, export_id: str) -> ExportJob:
        """A job by id, moved along by time first; MarketoError 1003 when there is none."""
        job = self.jobs.get(export_id)
        if job is None:
            raise MarketoError("1003", f"Export id {export_id} not found")
        self.tick()
        return job

    def enqueue(self, export_id: str) -> ExportJob:
        """Queue a Created job; 1029 when it is already queued, the queue is full or the day's bytes are spent."""
        job = self.job(export_id)
        if job.status != "Created":
            raise MarketoError("1029", "Job already queued")
        if sum(1 for j in self.jobs.values() if j.status in ("Queued", "Processing")) >= MAX_QUEUED:
            self.refusals.append("Too many jobs in queue")
            raise MarketoError("1029", "Too many jobs in queue")
        if self.exported_bytes_today >= self.daily_export_quota:
            self.refusals.append("Export daily quota exceeded")
            raise MarketoError("1029", "Export daily quota exceeded")
        job.status, job.queued_at = "Queued", time.time()
        self.tick()
        return job

    def cancel(self, export_id: str) -> ExportJob:
        """Stop a job that has not completed. Spelled "Cancelled" as in Marketo's cancel example."""
        job = self.job(export_id)
        if job.status in ("Created", "Queued", "Processing"):
            job.status = "Cancelled"
        return job

    def tick(self) -> None:
        """Move jobs along as time has passed (or all the way with ``complete_immediately``)."""
        now = time.time()
        for job in self.jobs.values():
            if job.status == "Processing" and (self.complete_immediately or now - (job.started_at or now) >= self.step_seconds):
                self._complete(job)
        for job in sorted(self.jobs.values(), key=lambda j: j.queued_at or 0):
            if job.status == "Queued" and self._processing() < MAX_PROCESSING and (
                    self.complete_immediately or now - (job.queued_at or now) >= self.step_seconds):
                self._start(job)
                if self.complete_immediately:
                    self._complete(job)

    def advance(self) -> None:
        """One step for every job now, whatever the clock says: Queued jobs start (two at most), Processing ones complete."""
        for job in [j for j in self.jobs.values() if j.status == "Processing"]:
            self._complete(job)
        for job in sorted(self.jobs.values(), key=lambda j: j.queued_at or 0):
            if job.status == "Queued" and self._processing() < MAX_PROCESSING:
                self._start(job)

    def reset_day(self) -> None:
        """A new day for the export quota."""
        self.exported_bytes_today = 0

    def _processing(self) -> int:
        return sum(1 for j in self.jobs.values() if j.status == "Processing")

    def _start(self, job: ExportJob) -> None:
        job.status, job.started_at = "Processing", time.time()
        job.records = self.select(job)

    def _complete(self, job: ExportJob) -> None:
        digest, size = hashlib.sha256(), 0
        for chunk in job.chunks():
            digest.update(chunk)
            size += len(chunk)
        job.status, job.finished_at, job.file_size, job.checksum = "Completed", time.time(), size, digest.hexdigest()
        self.exported_bytes_today += size


def _window(field: str, value: Any) -> DateWindow:
    value = value if isinstance(value, dict) else {}
    start, end = parse_instant(value.get("startAt")), parse_instant(value.get("endAt"))
    if start is None or end is None or end < start:
        raise MarketoError("1003", f"Invalid {field} filter: startAt and endAt must be ISO 8601 times in order")
    if end - start > MAX_WINDOW:
        raise MarketoError("1003", f"Invalid {field} filter: the date range exceeds 31 days")
    return DateWindow(field, zulu(start), zulu(end))


def _stamp(moment: float | None) -> str | None:
    return zulu(dt.datetime.fromtimestamp(moment, dt.timezone.utc)) if moment else None


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)

"""What the Marketo sandbox remembers: the API user and its tokens, leads, programs, activities,
bulk jobs, limits and injected faults.

Kept apart from the HTTP layer (``sandbox.py``) so tests and the demo set it up and inspect it
directly. Methods run on the sandbox server's event loop or while it is idle.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import time
import uuid
from typing import Any, ClassVar

import attrs
from chinwag import sandbox

from .sandbox_activities import CHANGE_DATA_VALUE, MAX_BATCH, NEW_LEAD, ActivityLog, now_zulu
from .sandbox_bulk import BulkExports, ExportJob, zulu
from .sandbox_limits import ApiLimits, MarketoError

EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
SYSTEM_FIELDS = ("id", "createdAt", "updatedAt")
DEFAULT_LEAD_FIELDS = ["id", "email", "updatedAt", "createdAt", "firstName", "lastName"]
DEFAULT_ACTIVITY_FIELDS = ["marketoGUID", "leadId", "activityDate", "activityTypeId", "campaignId",
                           "primaryAttributeValueId", "primaryAttributeValue", "attributes"]
# (REST name, display name, data type, length) of the fields describe.json lists
LEAD_FIELDS = [
    ("id", "Id", "integer", None), ("email", "Email Address", "email", 255),
    ("firstName", "First Name", "string", 255), ("lastName", "Last Name", "string", 255),
    ("company", "Company Name", "string", 255), ("title", "Job Title", "string", 255),
    ("country", "Country", "string", 255), ("phone", "Phone Number", "phone", 255),
    ("website", "Website", "url", 255), ("leadSource", "Lead Source", "string", 255),
    ("createdAt", "Created At", "datetime", None), ("updatedAt", "Updated At", "datetime", None),
]
DEFAULT_PROGRAM_STATUSES = ["Not in Program", "Visited", "Engaged", "Meeting Booked", "Influenced"]

_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Linus", "Margaret", "Tim"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Hamilton"]
_COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises", "Soylent"]
_TITLES = ["CTO", "VP Engineering", "Head of Marketing", "Data Analyst", "Procurement Manager", "CEO", None]
_COUNTRIES = ["United States", "Germany", "France", "United Kingdom", "Japan", "Brazil", "India", None]


@attrs.define
class Fault(sandbox.Fault):
    """A ``chinwag.sandbox.Fault`` that may answer a Marketo ``code`` (HTTP 200, envelope error) instead of an HTTP status."""

    code: str | None = None
    message: str | None = None


@attrs.define
class Program:
    """A program and the progression statuses of its channel, lowest step first."""

    id: int
    name: str
    statuses: list[str]
    members: dict[int, dict[str, Any]] = attrs.field(factory=dict)  # lead id -> membership


@attrs.define
class MarketoSandboxState(sandbox.SandboxState):
    """In-memory Marketo: one API user (client id and secret), its tokens, and one subscription's data."""

    fault_class: ClassVar[type[sandbox.Fault]] = Fault

    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    access_token_lifetime: int = 3600
    accept_query_token: bool = True  # the access_token query parameter; Marketo drops it on 2026-08-31
    tokens: dict[str, float] = attrs.field(factory=dict)  # access token -> expires_at (time.time())
    expiry_reported: set[str] = attrs.field(factory=set)  # expired tokens already answered with 602
    limits: ApiLimits = attrs.field(factory=ApiLimits)
    leads: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    leads_by_email: dict[str, int] = attrs.field(factory=dict)
    next_lead_id: int = 1
    cookies: dict[str, int] = attrs.field(factory=dict)  # Munchkin cookie value -> lead id
    refused_emails: dict[str, tuple[str, str]] = attrs.field(factory=dict)  # email -> (code, message)
    programs: dict[int, Program] = attrs.field(factory=dict)
    activity_log: ActivityLog = attrs.field(factory=ActivityLog)
    bulk: BulkExports = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.bulk = BulkExports(self.extract)
        if not self.programs:
            self.add_program(1001, "Website chat", DEFAULT_PROGRAM_STATUSES)

    # -- identity ----------------------------------------------------------------------------------

    def check_client(self, client_id: str, client_secret: str) -> bool:
        """Whether the identity call names the sandbox's API user."""
        return (client_id, client_secret) == (self.client_id, self.client_secret)

    def issue_token(self) -> dict[str, Any]:
        """The identity answer: the live token with its remaining life, or a new one when none is live."""
        now = time.time()
        live = [(token, expires) for token, expires in self.tokens.items() if expires > now]
        if live:
            token, expires_at = max(live, key=lambda pair: pair[1])
        else:
            token, expires_at = f"{uuid.uuid4()}:sb", now + self.access_token_lifetime
            self.tokens[token] = expires_at
        return {"access_token": token, "token_type": "bearer", "expires_in": max(0, int(expires_at - now)),
                "scope": "apis@sandbox"}

    def check_token(self, token: str | None) -> None:
        """Raise 601 for a missing or unknown token, 602 the first time an expired token is used, 601 after."""
        if not token or token not in self.tokens:
            raise MarketoError("601", "Access token invalid")
        if self.tokens[token] > time.time():
            return
        if token in self.expiry_reported:
            raise MarketoError("601", "Access token invalid")
        self.expiry_reported.add(token)
        raise MarketoError("602", "Access token expired")

    def expire_access_tokens(self) -> None:
        """Make every issued token expired now: its next use answers 602, later ones 601."""
        self.tokens = {token: min(expires, time.time() - 1) for token, expires in self.tokens.items()}

    def reset_day(self) -> None:
        """A new day: the daily call quota and the daily export quota start again."""
        self.limits.reset_day()
        self.bulk.reset_day()

    # -- faults ------------------------------------------------------------------------------------

    def fail_with_code(self, code: str, times: int = 1, message: str | None = None, **options: Any) -> Fault:
        """Answer Marketo error ``code`` (e.g. "606", "607", "615", "604", "608") to the next ``times`` API calls."""
        fault = Fault(200, times, code=str(code), message=message, **options)
        self.faults.append(fault)
        return fault

    def take_identity_fault(self, method: str, path: str) -> sandbox.Fault | None:
        """The first fault aimed at the identity endpoint by its ``path``, counted down.

        Faults without a path mean "every API call"; a client's token call is spared them.
        """
        for fault in self.faults:
            if fault.path and fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def refuse_email(self, email: str, code: str = "1003", message: str = "Lead refused") -> None:
        """Make leads.json skip any record with this email, with the given record-level reason."""
        self.refused_emails[email.lower()] = (code, message)

    # -- leads -------------------------------------------------------------------------------------

    def sync_leads(self, action: str, lookup_field: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create or update leads as ``POST leads.json`` does: one result per record, in input order."""
        if action not in ("createOrUpdate", "createOnly", "updateOnly"):
            raise MarketoError("1003", f"Invalid action: {action}")
        if lookup_field not in ("email", "id"):
            raise MarketoError("1011", f"Field not supported as lookup: {lookup_field}")
        if lookup_field == "id" and action != "updateOnly":
            raise MarketoError("1003", "lookupField id is allowed only with updateOnly")
        if len(records) > MAX_BATCH:
            raise MarketoError("1003", f"Too many records: at most {MAX_BATCH} per call")
        return [self._sync_one(action, lookup_field, dict(record)) for record in records]

    def _sync_one(self, action: str, lookup_field: str, record: dict[str, Any]) -> dict[str, Any]:
        email = str(record.get("email") or "")
        if email.lower() in self.refused_emails:
            return _skipped(*self.refused_emails[email.lower()])
        if email and not (email.isascii() and EMAIL.match(email)):
            return _skipped("1003", f"Invalid email address: {email}")
        if lookup_field == "id":
            existing = self.leads.get(_int(record.pop("id", None)) or -1)
        elif not email:
            return _skipped("1003", "Value for lookup field 'email' not found")
        else:
            existing = self.leads.get(self.leads_by_email.get(email.lower(), -1))
        if existing and action == "createOnly":
            return _skipped("1005", "Lead already exists")
        if existing is None and action == "updateOnly":
            return _skipped("1004", "Lead not found")
        if existing is None:
            lead = self.add_lead(record)
            self.activity_log.record(lead["id"], NEW_LEAD, lead["createdAt"], None,
                                     [{"name": "Source Type", "value": "Web service API"}])
            return {"id": lead["id"], "status": "created"}
        self._update(existing, record)
        return {"id": existing["id"], "status": "updated"}

    def add_lead(self, fields: dict[str, Any], created_at: str | None = None, updated_at: str | None = None) -> dict[str, Any]:
        """Store a new lead with the next id (no checks, no activity): for ``sync_leads`` and test setup."""
        stamp = now_zulu()
        lead = {key: value for key, value in fields.items() if key not in SYSTEM_FIELDS}
        lead.update(id=self.next_lead_id, createdAt=created_at or stamp, updatedAt=updated_at or created_at or stamp)
        self.next_lead_id += 1
        self.leads[lead["id"]] = lead
        if lead.get("email"):
            self.leads_by_email[str(lead["email"]).lower()] = lead["id"]
        return lead

    def _update(self, lead: dict[str, Any], changes: dict[str, Any]) -> None:
        # Replace the dict rather than change it, so bulk export snapshots keep what they extracted.
        stamp = now_zulu()
        changed = {k: v for k, v in changes.items() if k not in SYSTEM_FIELDS and lead.get(k) != v}
        updated = {**lead, **changed, "updatedAt": stamp}
        self.leads[lead["id"]] = updated
        if changed.get("email"):
            self.leads_by_email.pop(str(lead.get("email", "")).lower(), None)
            self.leads_by_email[str(changed["email"]).lower()] = lead["id"]
        for name, value in changed.items():
            self.activity_log.record(lead["id"], CHANGE_DATA_VALUE, stamp, None,
                                     [{"name": "Source", "value": "Web service API"}],
                                     fields=[{"id": _field_id(name), "name": name, "newValue": value,
                                              "oldValue": lead.get(name)}])

    def find_leads(self, filter_type: str, values: list[str]) -> list[dict[str, Any]]:
        """Leads matching ``filterType``/``filterValues`` (email, id, cookies or any field), in value order."""
        if len(values) > MAX_BATCH:
            raise MarketoError("1003", f"Too many filterValues: at most {MAX_BATCH}")
        if filter_type == "id":
            ids = [_int(value) for value in values]
        elif filter_type == "email":
            ids = [self.leads_by_email.get(value.lower()) for value in values]
        elif filter_type == "cookies":
            ids = [self.cookies.get(value) for value in values]
        else:
            wanted = set(values)
            return [lead for lead in self.leads.values() if str(lead.get(filter_type)) in wanted]
        return [self.leads[i] for i in dict.fromkeys(ids) if i in self.leads]

    def delete_leads(self, ids: list[Any]) -> list[dict[str, Any]]:
        """Delete leads by id: ``deleted`` or skipped with 1004, in input order."""
        results = []
        for raw in ids:
            lead = self.leads.pop(_int(raw) or -1, None)
            if lead is None:
                results.append({"id": raw, **_skipped("1004", "Lead not found")})
                continue
            self.leads_by_email.pop(str(lead.get("email", "")).lower(), None)
            self.cookies = {cookie: lead_id for cookie, lead_id in self.cookies.items() if lead_id != lead["id"]}
            for program in self.programs.values():
                program.members.pop(lead["id"], None)
            results.append({"id": lead["id"], "status": "deleted"})
        return results

    def seed_leads(self, count: int, *, end: dt.datetime | None = None, spread_days: int = 365,
                   seed: int = 7) -> list[dict[str, Any]]:
        """Create ``count`` realistic leads fast (no activities), created and updated over the last ``spread_days``."""
        chooser = random.Random(seed)
        end = end or dt.datetime.now(dt.timezone.utc)
        span = spread_days * 86_400
        made = []
        for _ in range(count):
            first, last, company = chooser.choice(_FIRST), chooser.choice(_LAST), chooser.choice(_COMPANIES)
            created = end - dt.timedelta(seconds=chooser.randrange(span))
            updated = created + dt.timedelta(seconds=chooser.randrange(max(1, int((end - created).total_seconds()))))
            domain = company.lower().replace(" ", "") + ".example"
            fields = {"email": f"{first}.{last}.{self.next_lead_id}@{domain}".lower(), "firstName": first,
                      "lastName": last, "company": company, "title": chooser.choice(_TITLES),
                      "country": chooser.choice(_COUNTRIES)}
            made.append(self.add_lead(fields, zulu(created), zulu(updated)))
        return made

    def describe_leads(self) -> list[dict[str, Any]]:
        """The lead fields, as ``describe.json`` lists them."""
        return [{"id": _field_id(name), "displayName": display, "dataType": kind,
                 **({"length": length} if length else {}),
                 "rest": {"name": name, "readOnly": name in SYSTEM_FIELDS},
                 "soap": {"name": name[0].upper() + name[1:], "readOnly": name in SYSTEM_FIELDS}}
                for name, display, kind, length in LEAD_FIELDS]

    # -- programs ----------------------------------------------------------------------------------

    def add_program(self, program_id: int, name: str, statuses: list[str]) -> Program:
        """A program whose channel has these progression statuses, lowest step first."""
        self.programs[program_id] = Program(program_id, name, list(statuses))
        return self.programs[program_id]

    def set_member_status(self, program_id: int, status_name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Upsert program membership at ``status_name``: created, updated or skipped (1004, 1025, 1037) with ``seq``."""
        program = self._program(program_id)
        if len(records) > MAX_BATCH:
            raise MarketoError("1003", f"Too many records: at most {MAX_BATCH} per call")
        results = []
        for seq, record in enumerate(records):
            lead_id = _int(record.get("leadId"))
            if status_name not in program.statuses:
                # Marketo's docs list 1025 "Program status not found" with the record-level codes.
                results.append({"seq": seq, **_skipped("1025", f"Program status '{status_name}' not found")})
            elif lead_id not in self.leads:
                results.append({"seq": seq, **_skipped("1004", "Lead not found")})
            elif lead_id in program.members and program.statuses.index(
                    program.members[lead_id]["statusName"]) >= program.statuses.index(status_name):
                results.append({"seq": seq, **_skipped("1037", "Lead skipped because it is already in or past this status")})
            else:
                status = "updated" if lead_id in program.members else "created"
                membership = program.members.setdefault(lead_id, {"membershipDate": now_zulu(), "acquiredBy": False})
                membership.update(statusName=status_name, reachedSuccess=status_name == program.statuses[-1])
                results.append({"seq": seq, "status": status, "leadId": lead_id})
        return results

    def members(self, program_id: int, filter_type: str | None = None, values: list[str] | None = None) -> list[dict[str, Any]]:
        """The program's members (``filterType`` statusName or leadId narrows them)."""
        program = self._program(program_id)
        rows = []
        for lead_id, membership in program.members.items():
            if filter_type == "statusName" and membership["statusName"] not in (values or []):
                continue
            if filter_type == "leadId" and str(lead_id) not in (values or []):
                continue
            rows.append({"seq": len(rows), "leadId": lead_id, "programId": program.id, **membership})
        return rows

    def _program(self, program_id: int) -> Program:
        if program_id not in self.programs:
            raise MarketoError("610", "Requested resource not found")
        return self.programs[program_id]

    # -- bulk extract ------------------------------------------------------------------------------

    def extract(self, job: ExportJob) -> list[dict[str, Any]]:
        """The records a bulk job extracts, chosen when it starts processing."""
        if job.kind == "leads":
            return [lead for lead in self.leads.values() if job.window.contains(lead.get(job.window.field))]
        types = set(job.activity_type_ids or [])
        return [a for a in self.activity_log.activities
                if job.window.contains(a["activityDate"]) and (not types or a["activityTypeId"] in types)]


def _skipped(code: str, message: str) -> dict[str, Any]:
    return {"status": "skipped", "reasons": [{"code": code, "message": message}]}


def _field_id(name: str) -> int:
    names = [field[0] for field in LEAD_FIELDS]
    return names.index(name) + 1 if name in names else 1000 + sum(map(ord, name))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

"""chinwag's CRM contract suite (``chinwag.testing_crm``) run against the Marketo connector, as
the plugin registers it from a project's settings, over loopback HTTP to the Marketo sandbox."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from chinwag.testing import write_project
from chinwag.testing_crm import CrmConnectorContract, started_connector
from chinwag_marketo.commands import set_up_activity_types
from chinwag_marketo.connector import MarketoConnector
from chinwag_marketo.sandbox import SandboxServer
from chinwag_marketo.sandbox_activities import now_zulu
from chinwag_marketo.sandbox_state import MarketoSandboxState
from chinwag_marketo.settings import DEFAULT_ACTIVITY_TYPES, DEFAULT_FIELD_MAP

PROGRAM = 1001  # the sandbox's "Website chat" program
VISIT_WEBPAGE = 1  # Marketo's activity type id for a web page visit


@attrs.define
class MarketoRemote:
    """The Marketo sandbox's state as the contract suite's ``CrmRemote``."""

    state: MarketoSandboxState

    def _lead(self, email: str) -> dict[str, Any] | None:
        lead_id = self.state.leads_by_email.get(email.lower())
        return None if lead_id is None else self.state.leads.get(lead_id)

    def add_lead(self, email: str, person: Mapping[str, Any], company: Mapping[str, Any]) -> str:
        """Created, then filled in, through the sandbox's own lead sync, so the fields' changes are
        in the activity log a pull reads."""
        [created] = self.state.sync_leads("createOrUpdate", "email", [{"email": email}])
        self.state.sync_leads("createOrUpdate", "email", [{"email": email, **person, **company}])
        return str(created["id"])

    def link_tracking_cookie(self, email: str) -> str:
        """A Munchkin cookie for the lead, as the tracking script would have left."""
        lead = self._lead(email)
        assert lead is not None
        cookie = f"id:123-ABC-456&token:_mch-127.0.0.1-{secrets.randbelow(10**13)}-{lead['id']}"
        self.state.cookies[cookie] = lead["id"]
        return cookie

    def has_lead(self, email: str) -> bool:
        """Whether a lead has this email."""
        return self._lead(email) is not None

    def lead_value(self, email: str, attribute: str) -> Any:
        """The lead's Marketo field for a chinwag attribute (the default field map)."""
        lead = self._lead(email)
        return None if lead is None else lead.get(DEFAULT_FIELD_MAP[attribute])

    def recorded_activities(self) -> list[str]:
        """The primary attribute (chinwag's event key) of every chinwag custom activity."""
        names = set(DEFAULT_ACTIVITY_TYPES.values())
        type_ids = {kind["id"] for kind in self.state.activity_log.types.values() if kind["apiName"] in names}
        return [str(activity["primaryAttributeValue"]) for activity in self.state.activity_log.activities
                if activity["activityTypeId"] in type_ids]

    def list_members(self, list_id: str) -> dict[str, str | None]:
        """A program's members by email, with their status."""
        emails = {lead_id: lead.get("email") for lead_id, lead in self.state.leads.items()}
        return {str(emails[lead_id]): membership["statusName"]
                for lead_id, membership in self.state.programs[int(list_id)].members.items() if lead_id in emails}

    def add_activity(self, email: str) -> str:
        """A web page visit Marketo recorded for the person (activity type 1, which the connector pulls)."""
        lead = self._lead(email)
        assert lead is not None
        activity = self.state.activity_log.record(lead["id"], VISIT_WEBPAGE, now_zulu(), "/pricing",
                                                  [{"name": "Query Parameters", "value": ""}])
        return str(activity["id"])

    def refuse(self, email: str) -> None:
        """leads.json skips this email (1003)."""
        self.state.refuse_email(email)

    def outage(self) -> None:
        """Every API call answers 503 (the identity call is spared, as Marketo's is separate)."""
        self.state.fail_next(503, times=1_000_000)

    def recover(self) -> None:
        """No more faults."""
        self.state.faults.clear()


class TestMarketoContract(CrmConnectorContract):
    """Marketo keeps the contract: by email and Munchkin cookie, programs for goals, changes by
    paging token, deletes on forget (``delete_on_forget``)."""

    company_field = "company"
    pulls_activities = True  # the incremental pull brings the activities of sync_activity_types

    @pytest.fixture
    def remote(self, server: SandboxServer) -> MarketoRemote:
        return MarketoRemote(server.state)

    @pytest.fixture
    async def connector(self, tmp_path: Path, server: SandboxServer) -> AsyncIterator[MarketoConnector]:
        marketo = {**server.plugin_config(), "person_fields": ["firstName"], "company_fields": ["company"],
                   "programs": [{"program_id": PROGRAM, "status": "Engaged", "goal": self.goal}],
                   "delete_on_forget": True, "batch_wait": 0, "sync_every": 0, "sync_activity_types": [VISIT_WEBPAGE]}
        project = write_project(tmp_path / "p", {"name": "contract", "plugins": {"marketo": marketo}})
        async with started_connector(project, "marketo") as connector:
            await set_up_activity_types(connector.client, dict(connector.settings.activity_types))
            yield connector

    @pytest.fixture
    async def pull_cursor(self, connector: MarketoConnector, server: SandboxServer) -> str:
        """A paging token from now, as the initial sync leaves behind."""
        return server.state.activity_log.paging_token(now_zulu())

"""The webhook connector against chinwag's CRM contract suite, posting to a real receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from chinwag.testing import write_project
from chinwag.testing_crm import CrmConnectorContract, started_connector
from chinwag_webhook.receiver import ReceiverState


@attrs.define
class ReceiverRemote:
    """The receiver's state as the suite's ``CrmRemote``."""

    state: ReceiverState

    def add_lead(self, email: str, person: Mapping[str, Any], company: Mapping[str, Any]) -> str:
        raise NotImplementedError("a webhook pulls nobody")

    def link_tracking_cookie(self, email: str) -> str:
        raise NotImplementedError("a webhook has no tracking cookie")

    def has_lead(self, email: str) -> bool:
        return email in self.state.leads

    def lead_value(self, email: str, attribute: str) -> Any:
        return self.state.leads.get(email, {}).get(attribute)

    def recorded_activities(self) -> list[str]:
        return self.state.chat_events()

    def list_members(self, list_id: str) -> Mapping[str, str | None]:
        return {}

    def refuse(self, email: str) -> None:
        self.state.refused_emails.add(email)

    def outage(self) -> None:
        self.state.down = True

    def recover(self) -> None:
        self.state.down = False


class TestWebhookContract(CrmConnectorContract):
    """Outbound only: no lookup, no pull, no lists; forget is passed on to the receiver."""

    finds_leads = False
    pulls = False
    lists = False

    @pytest.fixture
    def remote(self, receiver: Any) -> ReceiverRemote:
        return ReceiverRemote(receiver.state)

    @pytest.fixture
    async def connector(self, tmp_path: Path, receiver: Any) -> AsyncIterator[Any]:
        project = write_project(tmp_path / "p", {"name": "t", "plugins": {"webhook": receiver.plugin_config()}})
        async with started_connector(project, "webhook") as connector:
            yield connector

    async def test_every_delivery_was_signed(self, connector: Any, remote: ReceiverRemote) -> None:
        """(Beyond the contract.) The receiver verified every delivery of a batch."""
        email = "ada@contract.example"
        await self.known_lead(connector, email)
        assert await connector.record_activities([self.activity(email), self.activity(None)]) == {}
        assert remote.state.bad_signatures == [] and len(remote.state.order) == 3

"""The CRM contract suite (``chinwag.testing_crm``) run against the loopback CRM connector and its
remote over real HTTP, registered by its plugin from a project's settings; and against connectors
broken on purpose, which the suite must fail."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from chinwag.crm import PullPage
from chinwag.outbox import RetryLater, Skipped
from chinwag.sandbox import SandboxServer, serve_in_thread
from chinwag.testing import write_project
from chinwag.testing_crm import CrmConnectorContract, started_connector
from chinwag_loopback_crm import LoopbackCrm
from chinwag_loopback_crm.remote import LoopbackRemote, RemoteCrm, remote_app


@pytest.fixture
def loopback_server() -> Iterator[SandboxServer[RemoteCrm]]:
    """The remote CRM on a free loopback port."""
    state = RemoteCrm()
    with serve_in_thread(remote_app(state), state, lambda url, _: {"base_url": url}, label="remote CRM") as server:
        yield server


class TestLoopbackCrm(CrmConnectorContract):
    """The loopback connector keeps the contract; it has lists, pulls and forgets, and no cookie."""

    @pytest.fixture
    def remote(self, loopback_server: SandboxServer[RemoteCrm]) -> LoopbackRemote:
        return LoopbackRemote(loopback_server.state)

    @pytest.fixture
    async def connector(self, tmp_path: Path, loopback_server: SandboxServer[RemoteCrm]) -> AsyncIterator[Any]:
        project = write_project(tmp_path / "p", {"name": "contract", "plugins": {"loopback_crm": {
            **loopback_server.plugin_config(), "list_for_goal": "webinar"}}})
        async with started_connector(project, "loopback-crm") as connector:
            yield connector


# -- the suite catches connectors that break the contract ----------------------------------------

class FreshKeyEachSend(LoopbackCrm):
    """Sends each activity under a new key, so the remote cannot tell a re-send from a new one."""

    async def record_activities(self, activities: Any) -> dict[str, Skipped]:
        return await super().record_activities([attrs.evolve(a, key=f"{a.key}-{secrets.token_hex(2)}")
                                                for a in activities])


class OutageAsRefusal(LoopbackCrm):
    """Turns an outage into refusals: the outbox would drop the batch for good."""

    async def record_activities(self, activities: Any) -> dict[str, Skipped]:
        try:
            return await super().record_activities(activities)
        except RetryLater as error:
            return {a.key: Skipped(str(error)) for a in activities}


class CursorIgnored(LoopbackCrm):
    """Pulls everyone from the start, whatever the cursor says."""

    async def pull(self, cursor: str | None) -> PullPage:
        return await super().pull(None)


@pytest.mark.parametrize(("broken", "test"), [
    (FreshKeyEachSend, "test_an_activity_is_recorded_once_even_when_sent_again"),
    (OutageAsRefusal, "test_an_outage_is_raised_and_recovers_without_doubles"),
    (CursorIgnored, "test_pull_pages_through_changes_with_a_cursor"),
])
async def test_the_suite_fails_a_connector_that_breaks_the_contract(
        loopback_server: SandboxServer[RemoteCrm], broken: type[LoopbackCrm], test: str) -> None:
    connector = broken({**loopback_server.plugin_config(), "list_for_goal": "webinar"})
    remote = LoopbackRemote(loopback_server.state)
    arguments: dict[str, Any] = {"connector": connector, "remote": remote}
    if "pull" in test:
        arguments["pull_cursor"] = None
    try:
        with pytest.raises((AssertionError, pytest.fail.Exception)):  # a failed assert, or pytest.fail
            await getattr(TestLoopbackCrm(), test)(**arguments)
    finally:
        await connector.close()

"""Incremental CRM syncs on a schedule inside ``chinwag serve``, one process at a time.

A connector that has ``sync_every`` (seconds, > 0) is pulled (``crm_records.pull``) that often by
the serving processes, as a job of the app's ``chinwag.schedule.Schedule`` (named
``crm-sync:<connector>``): one process at a time pulls a given connector, so several processes
do not spend the CRM's API budget on the same changes. A failed pull is logged, recorded as the
connector's ``last_error`` and tried again at the next turn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .crm import NotReadyToPull
from .crm_records import pull

if TYPE_CHECKING:
    from .app import Chinwag
    from .crm import CrmConnector


def schedule_crm_pulls(app: Chinwag) -> None:
    """Add a pull job to ``app.schedule`` for each connector with a ``sync_every``."""
    for connector in app.crm_connectors:
        app.schedule.add(f"crm-sync:{connector.name}", float(getattr(connector, "sync_every", 0) or 0),
                         _puller(app, connector))


def _puller(app: Chinwag, connector: CrmConnector):  # type: ignore[no-untyped-def]
    async def run() -> str:
        assert app.store is not None
        try:
            done = await pull(app.store, connector, metrics=app.metrics)
        except NotReadyToPull as waiting:  # recorded as last_error by pull; nothing is wrong with the CRM
            return f"nothing to pull yet: {waiting}"
        return f"pulled {done.rows} changed people and {done.activities} activities"

    return run

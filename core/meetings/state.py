"""What the meetings plugin keeps per app, typed (``app.plugin_state(MeetingsState)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from ..credentials import Credentials

if TYPE_CHECKING:
    from .schedules import SavedSchedule
    from .settings import MeetingSettings


@attrs.define
class MeetingsState:
    """Per-app meetings data: parsed settings, the token cipher and what kind of process this is."""

    settings: MeetingSettings | None = None  # ``configured`` with the saved schedules applied
    configured: MeetingSettings | None = None  # chinwag.yaml's, parsed by ``check_config`` when the app is prepared
    saved: dict[str, SavedSchedule] = attrs.field(factory=dict)  # agents' schedules saved outside chinwag.yaml
    credentials: Credentials | None = None  # the token cipher, loaded at startup
    throwaway_key: bool = False  # the demo made up a key for this process
    serving: bool = False  # this process serves HTTP, so mounted sandboxes are live

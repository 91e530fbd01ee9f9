"""Targeting's per-app data: its checked settings."""

from __future__ import annotations

import attrs

from .settings import TargetingSettings


@attrs.define
class TargetingState:
    """Kept as ``app.plugin_state(TargetingState)``; filled by the built-in plugin's ``check_config``."""

    settings: TargetingSettings = attrs.field(factory=TargetingSettings)

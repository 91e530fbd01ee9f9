"""The languages plugin's per-app data: its checked settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .settings import LanguageSettings, parse_settings

if TYPE_CHECKING:
    from ..app import Chinwag


@attrs.define
class LanguagesState:
    """Kept as ``app.plugin_state(LanguagesState)``; filled by the built-in plugin's ``check_config``."""

    settings: LanguageSettings | None = None


def language_settings(app: Chinwag) -> LanguageSettings:
    """The project's language settings: read on first use (dialogues are checked before
    ``check_config`` runs, and need the default language), kept for the app."""
    state = app.plugin_state(LanguagesState)
    if state.settings is None:
        state.settings, _ = parse_settings(app.config.sections.get("languages"), app.config.raw.get("languages"),
                                           str(app.config.file), app.config.project_dir)
    return state.settings

"""Languages, built in as a plugin: the ``languages:`` section of chinwag.yaml (the default
language and the project's catalog entries) and the visit's ``visit.language`` attribute.

Choosing the visitor's language (``chinwag.languages.locales``) and reading a text in it
(``chinwag.languages.texts``) are core's; this plugin only declares what a third party could
declare through the same hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..attributes import Attribute
from ..config import Config, ConfigSection
from ..hookspecs import hookimpl
from ..problems import Problem
from .settings import parse_settings
from .state import LanguagesState

if TYPE_CHECKING:
    from ..app import Chinwag

VISIT_LANGUAGE = Attribute("visit.language", "string", "Language (from the visitor's locale: en, es...)")


@hookimpl
def register_config_sections(register: Callable[[ConfigSection], Any]) -> None:
    """``languages:`` in chinwag.yaml."""
    register(ConfigSection("languages", "languages: the default language and catalog entries (widget labels, messages)"))


@hookimpl
def register_attributes(register: Callable[[Attribute], Any]) -> None:
    """``visit.language``: the language part of ``visit.locale``."""
    register(VISIT_LANGUAGE)


@hookimpl
def check_config(config: Config, app: Chinwag) -> list[Problem]:
    """Check ``languages:`` and the project's ``catalogs/``; keep the settings for the app."""
    settings, problems = parse_settings(config.sections.get("languages"), config.raw.get("languages"),
                                        str(config.file), config.project_dir)
    app.plugin_state(LanguagesState).settings = settings
    return problems

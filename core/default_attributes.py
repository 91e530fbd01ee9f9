"""Built-in attributes: the common lead and company fields, the visit, and the project's own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .attributes import Attribute
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .app import Chinwag

STANDARD = (
    Attribute("lead.email", "email", "Email"),
    Attribute("lead.firstName", "string", "First name"),
    Attribute("lead.lastName", "string", "Last name"),
    Attribute("lead.phone", "phone", "Phone"),
    Attribute("lead.title", "string", "Job title"),
    Attribute("lead.country", "string", "Country"),
    Attribute("lead.state", "string", "State or region"),
    Attribute("company.name", "string", "Company"),
    Attribute("company.domain", "string", "Company domain"),
    Attribute("company.size", "number", "Company size"),
    Attribute("company.industry", "string", "Industry"),
    # What a CRM knows about the person (read-only: filled when a CRM connector recognises them).
    Attribute("person.email", "email", "Email (CRM)"),
    Attribute("person.firstName", "string", "First name (CRM)"),
    Attribute("person.lastName", "string", "Last name (CRM)"),
    Attribute("person.title", "string", "Job title (CRM)"),
    Attribute("person.company", "string", "Company (CRM)"),
    Attribute("person.phone", "phone", "Phone (CRM)"),
    Attribute("visit.page_url", "string", "Page URL"),
    Attribute("visit.referrer", "string", "Referrer"),
    Attribute("visit.locale", "string", "Locale"),
    Attribute("visit.timezone", "string", "Time zone"),
)


@hookimpl
def register_attributes(register: Callable[[Attribute], Any], app: Chinwag) -> None:
    """The standard attributes, then those declared under ``attributes:`` in chinwag.yaml."""
    for attribute in STANDARD:
        register(attribute)
    standard = {attribute.name for attribute in STANDARD}
    for spec in app.config.attributes:
        if spec.name not in standard:
            register(Attribute(spec.name, spec.type, spec.label))

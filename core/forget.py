"""Forgetting a person: everything chinwag stores about an email address, in one transaction.

``forget_person`` finds the visitors whose lead carries the email (typed, or known from a CRM),
deletes their sessions, transcripts, events, outbox rows and visitor rows and the CRM records and
activities with that email, lets every plugin remove or anonymise its own rows through the
``forget_person`` hook (the meetings plugin anonymises meetings), and queues one ``forget`` item
per CRM connector in the outbox, so each CRM is asked to delete the person too, with retries,
once. All of it commits together, or none of it does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from .crm_records import delete_records_of
from .outbox import FORGET_KIND, enqueue, outbox, outbox_row
from .store import utcnow
from .tables import events, sessions, transcript, visitors

if TYPE_CHECKING:
    from .app import Chinwag


@attrs.frozen
class Person:
    """Whom to forget: the email (lower case) and the visitors and sessions that carried it."""

    email: str
    visitor_ids: tuple[str, ...]
    session_ids: tuple[str, ...]


class ForgetFailed(Exception):
    """A plugin could not forget its part; nothing was forgotten."""


def normalised_email(email: str) -> str:
    """The email in lower case without surrounding spaces; ValueError when it is not one."""
    if not isinstance(email, str):
        raise ValueError("the email must be text")
    cleaned = email.strip().lower()
    name, at, domain = cleaned.partition("@")
    if not (at and name and domain) or len(cleaned) > 320 or any(c.isspace() or ord(c) < 32 for c in cleaned):
        raise ValueError(f"not an email address: {email[:80]!r}")
    return cleaned


def _lead_email(name: str) -> sa.ColumnElement[Any]:
    return sa.func.lower(visitors.c.lead[name].as_string())


async def forget_person(app: Chinwag, email: str) -> dict[str, int]:
    """Remove everything stored about ``email``; return how many rows of each kind went.

    Raises ``ValueError`` for something that is not an email and ``ForgetFailed`` when a plugin's
    ``forget_person`` fails (then nothing is forgotten).
    """
    assert app.store is not None, "the app has not started"
    address = normalised_email(email)
    async with app.store.transaction() as connection:
        visitor_ids = tuple((await connection.execute(sa.select(visitors.c.id).where(
            sa.or_(_lead_email("lead.email") == address, _lead_email("person.email") == address)))).scalars())
        session_ids = tuple((await connection.execute(sa.select(sessions.c.id).where(
            sessions.c.visitor_id.in_(visitor_ids)))).scalars())
        person = Person(address, visitor_ids, session_ids)
        counts = {
            "transcript": await _delete(connection, transcript, transcript.c.session_id.in_(session_ids)),
            "events": await _delete(connection, events, sa.or_(events.c.visitor_id.in_(visitor_ids),
                                                               events.c.session_id.in_(session_ids))),
            "outbox": await _delete(connection, outbox, outbox.c.ordering_key.in_(visitor_ids)),
            "sessions": await _delete(connection, sessions, sessions.c.id.in_(session_ids)),
            "visitors": await _delete(connection, visitors, visitors.c.id.in_(visitor_ids)),
        }
        counts["crm records"], counts["crm activities"] = await delete_records_of(connection, address)
        counts.update(await _plugins_forget(app, person, connection))
        counts["crm forget requests"] = await _ask_crms(app, connection, address)
    return counts


async def _delete(connection: Any, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    return int((await connection.execute(sa.delete(table).where(where))).rowcount or 0)


async def _plugins_forget(app: Chinwag, person: Person, connection: Any) -> dict[str, int]:
    """Each plugin's part; a failure stops the whole forget (nothing may stay half forgotten)."""
    expected = [plugin for plugin, _, _ in app.plugins.implementations("forget_person")]
    from .plugins import PluginError

    try:
        results = await app.plugins.acall("forget_person", person=person, connection=connection, app=app)
    except PluginError as error:  # strict mode
        raise ForgetFailed(str(error)) from error
    answered = [plugin for plugin, _ in results]
    if missing := [plugin for plugin in expected if plugin not in answered]:
        raise ForgetFailed(f"plugin {', '.join(missing)} could not forget its part (see the log); "
                           "nothing was forgotten")
    counts: dict[str, int] = {}
    for _, result in results:
        if isinstance(result, Mapping):
            counts.update({str(name): int(count) for name, count in result.items()})
    return counts


async def _ask_crms(app: Chinwag, connection: Any, address: str) -> int:
    """One ``forget`` outbox item per CRM connector, keyed by a hash of the email and the moment;
    the item carries the email until it is delivered (then the worker clears it)."""
    now = utcnow()
    digest = hashlib.sha256(address.encode()).hexdigest()[:32]
    key = f"forget-{digest}-{now.strftime('%Y%m%dT%H%M%S%f')}"
    rows = [outbox_row(connector.name, key, FORGET_KIND, {"email": address}, None, now)
            for connector in app.crm_connectors]
    await enqueue(connection, rows)
    return len(rows)

"""Every hook a chinwag plugin can implement.

Hook families:

* ``register_*(register, app)`` collect named objects. Call ``register(obj)`` once per object;
  chinwag stamps each with the plugin that registered it and refuses duplicate names.
* ``prepare_*`` change an object in place.
* ``startup``/``shutdown``/``chat_event`` are lifecycle and activity verbs.

An implementation takes only the arguments it needs. Any hook may return a value, a coroutine
or a callable; chinwag awaits whichever it gets (see ``chinwag.plugins.await_me_maybe``).
Every hook is isolated: an implementation that raises marks its plugin ``error: <hook>: ...`` in
``chinwag plugins`` and the other plugins go on (``CHINWAG_STRICT_PLUGINS=1`` makes it fatal).
``app`` is always the ``chinwag.app.Chinwag`` being served or checked.
The full reference with examples is ``docs/plugins.md``.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("chinwag")
hookimpl = pluggy.HookimplMarker("chinwag")


@hookspec
def register_cards(register, app):
    """Register dialogue card types (objects with ``name``, ``check``, ``enter``, ``receive``).

    Fires once when the app starts and when dialogues are validated. Returns nothing.
    """


@hookspec
def register_attributes(register, app):
    """Register lead, company or visit attributes (``chinwag.attributes.Attribute``).

    Dialogues may map answers to, branch on and target only registered attributes.
    Fires once at startup and during validation. Returns nothing.
    """


@hookspec
def register_calendar_providers(register, app):
    """Register calendar providers (objects with ``name`` and async free/busy and event methods).

    Fires once at startup. Returns nothing.
    """


@hookspec
def register_routing_strategies(register, app):
    """Register routing strategies that pick the agent for a meeting (``name``, async ``choose``).

    Fires once at startup. Returns nothing.
    """


@hookspec
def register_crm_connectors(register, app):
    """Register CRM connectors that receive leads and activity (``name``, async methods).

    Fires once at startup. Returns nothing.
    """


@hookspec
def register_outbox_consumers(register, app):
    """Register consumers of the durable outbox (``chinwag.outbox.OutboxConsumer`` plus ``wants``).

    A consumer has ``name``, ``batch_size``, ``wants(event) -> bool`` and async
    ``deliver(items)``. Every event it wants is written to the outbox in the same transaction as
    the turn that caused it, and delivered in batches, in order per visitor, by a worker in any
    ``chinwag serve`` process, with retries: nothing is lost, and each item carries its event's
    id as an idempotency key. CRM connectors are consumers already. Fires once when the app is
    prepared. Returns nothing.
    """


@hookspec
def prepare_theme(theme, app):
    """Change the widget theme (a ``dict`` of CSS custom properties and options) in place.

    Fires once at startup, after the built-in defaults are set. Returns nothing.
    """


@hookspec
def register_routes(register, app):
    """Register extra Starlette routes: ``register(route)`` with a ``starlette.routing.BaseRoute``.

    Fires once when the ASGI app is built. Returns nothing.
    """


@hookspec
def register_commands(cli):
    """Add commands to the ``chinwag`` command line: ``cli`` is the root ``click.Group``.

    Fires when the command line starts. Returns nothing.
    """


@hookspec
def register_tables(register, app):
    """Register the plugin's own tables: ``register(table)`` with a ``sqlalchemy.Table``.

    Declare each table on a ``MetaData`` of the plugin's own; chinwag copies it into the app's
    schema (one per app, refusing a name two plugins use). Its migrations create and change it
    (``register_migrations``); a table no migration source owns is created as declared when the
    schema is upgraded, and never altered. Fires once when the app is prepared. Returns nothing.
    """


@hookspec
def register_migrations(register, app):
    """Register the plugin's migration source: ``register(chinwag.schema_sources.MigrationSource(
    name, folder, tables))``.

    ``folder`` is an Alembic script directory inside the plugin's package (``env.py`` calling
    ``chinwag.migration_env.run_migrations()``, and ``versions/``); ``tables`` are the tables its
    revisions create (the ones the plugin registers with ``register_tables``). Each source keeps
    its revision in a table of its own, ``alembic_version_<name>``, so it upgrades independently
    of core and of other plugins. ``chinwag db upgrade`` runs every source's revisions under the
    database's schema lock; ``chinwag db check`` fails when a declared table or column is not
    made by them. Fires once when the app is prepared. Returns nothing.
    """


@hookspec
def register_config_sections(register, app):
    """Register top-level sections of chinwag.yaml the plugin owns (``chinwag.config.ConfigSection``).

    A key of chinwag.yaml that neither core nor a plugin declares is reported as unknown, with
    its line. The section's value is ``app.config.sections[name]`` (secrets already read);
    check it in ``check_config``. Fires once when the app is prepared. Returns nothing.
    """


@hookspec
def register_event_types(register, app):
    """Register activity event types (``chinwag.events.EventType``) the plugin's cards emit.

    Reports count, clients hear of and connectors receive only registered types; a card that
    emits an unregistered type is a bug. Fires once when the app is prepared. Returns nothing.
    """


@hookspec
def check_config(config, app):
    """Check this plugin's part of the project configuration.

    ``config`` is the whole validated ``chinwag.config.Config``. Fires during ``chinwag validate``
    and before ``serve`` starts. Returns a list of ``chinwag.config.Problem`` (or None);
    any problem stops the server from starting.
    """


@hookspec
def startup(app):
    """The server is starting: the store is open and every registry is filled.

    Returns nothing; a coroutine is awaited before the first request is served.
    """


@hookspec
def shutdown(app):
    """The server is stopping. Close clients and flush work. Returns nothing."""


@hookspec
def chat_event(event, app):
    """Observe one activity event (``chinwag.events.ChatEvent``) after it is stored.

    Fires for every registered event type (``register_event_types``). It is fire-and-forget: a
    slow or failing observer never delays or breaks the chat, and an observer that was not
    running when the event happened never hears of it; work that must not be lost goes through
    the outbox (``register_outbox_consumers``). Returns nothing.
    """


@hookspec
def forget_person(person, connection, app):
    """Remove or anonymise what this plugin stores about a person (``chinwag forget EMAIL``).

    ``person`` is a ``chinwag.forget.Person``: the email (lower case) and the ids of the visitors
    and sessions that carried it. ``connection`` is the transaction in which core deletes its own
    rows: write through it, so the whole forget commits or none of it does. Return a mapping of
    what changed (``{"meetings anonymised": 2}``) for the operator's report, or None. A failure
    rolls everything back and the command says which plugin failed; ask remote systems to forget
    through the outbox, never from here (CRM connectors get their ``forget`` that way already).
    """


@hookspec
def purge_expired(policy, now, connection, app):
    """Delete or anonymise this plugin's rows that the retention policy no longer keeps.

    ``policy`` is a ``chinwag.retention.RetentionPolicy`` (days per kind of data; None: kept for
    good; ``policy.cutoff(days, now)`` gives the moment before which data goes), ``connection``
    the transaction in which core purges its own tables (``chinwag purge`` and the scheduled purge
    in ``chinwag serve``). Return a mapping of what went (``{"meetings": 3}``), or None.
    """


@hookspec
def register_notifiers(register, app):
    """Register notifiers (``chinwag.notifications.Notifier``: ``name`` and async ``send``).

    A notifier is told about meetings booked and changed, bookings that failed, agents whose
    calendar needs reconnecting and outbox items that died, each as a typed ``Notification``
    with the recipients the project's ``notifications:`` section names. Delivery goes through
    the outbox (one consumer per notifier, ``notify:<name>``): retried, never lost, never sent
    twice. Fires once when the app is prepared. Returns nothing.
    """


@hookspec
def admin_api_principal(token, request, app):
    """Who a Bearer ``token`` sent to the admin API (``/-/admin/*``) belongs to, when it is not the
    project's ``admin_token``: return a non-empty name (a user's email) to let the request through,
    or None to say it is not yours.

    ``request`` is the Starlette request (its path and method, to grant only some endpoints).
    Fires for each admin request whose token is not the ``admin_token``, until one plugin names
    a principal, which the handler finds as ``request.state.admin_principal``. A plugin that
    issues its own tokens (the admin console's user tokens) keeps only their digests and checks
    here that the token is live and its user may call that endpoint.
    """


@hookspec
def crm_sync_status(app):
    """How the plugin's CRM connectors' syncs stand, for operators: a list of
    ``chinwag.crm.SyncStatus`` (connector, state, one-sentence summary, details), or None.

    Fires when an operator looks (the admin console's Integrations page), in a serving process:
    read what is stored (``chinwag.crm_records.sync_state``, your own tables), never call the
    CRM, so the page stays quick when the CRM is slow or down. Any CRM plugin may implement it;
    a connector without one is shown with core's record of its pulls alone.
    """


@hookspec
def page_url(subject, key, app):
    """The address of a page where a person sees ``subject`` (a string naming a kind of thing)
    identified by ``key``, or None when the plugin serves no such page.

    Subjects core asks about (``chinwag.links``): ``"agent"`` (key: the agent's e-mail; the page
    where they connect their calendar again) and ``"conversation"`` (key: a session id; its
    transcript). Fires when core writes a link for a person (a notification e-mail, the page an
    agent lands on after a calendar's consent); the first absolute URL returned wins. Return an absolute URL under
    ``app.config.public_url``. A plugin that serves pages for people (the admin console) answers;
    without one, core's fallback is a command to run or an admin API address.
    """


@hookspec
def internal_visit(headers, app):
    """Whether the person connecting is your own team trying a dialogue rather than a visitor:
    return a short reason (``"console preview by ada@acme.example"``) or None.

    ``headers`` are the WebSocket request's, names in lower case (its cookies, a proxy's headers).
    Fires once per ``hello``. When any plugin gives a reason, the connection's conversation is
    internal: its transcript and lead answers are stored and its cards run as usual (a meeting
    card books for real), but its activity events are neither stored nor queued, so it counts in
    no report and reaches no CRM, webhook or notification; the page still gets its ``event``
    frames. The admin console marks its own previews this way.
    """

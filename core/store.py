"""The database: one async SQLAlchemy engine for SQLite (default) or PostgreSQL.

What must hold across server processes (a booking, the round-robin pointer) is made to hold
by the database: transactions and unique constraints, never process memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .json_text import dumps_column
from .tables import health_probe

T = TypeVar("T")

# The advisory lock key of the start-up steps processes take in turn ("chinwag" in ASCII).
STARTUP_LOCK = 0x6368696E776167
# Seconds a client is told to wait before trying again while the database cannot be used.
RETRY_AFTER_SECONDS = 5
# asyncpg's errors for a server that refuses or drops connections (named, so SQLite-only
# installs need not import asyncpg).
_POSTGRES_CONNECTION_ERRORS = frozenset({
    "PostgresConnectionError", "ConnectionDoesNotExistError", "ConnectionFailureError", "CannotConnectNowError",
    "TooManyConnectionsError", "AdminShutdownError", "CrashShutdownError", "ReadOnlySQLTransactionError",
    "DiskFullError", "InsufficientResourcesError",
})
# SQLite's OperationalErrors that are the disk's or the file's, not the code's.
_SQLITE_OUTAGES = ("disk i/o error", "database or disk is full", "readonly database", "unable to open database",
                   "database is locked")


def utcnow() -> dt.datetime:
    """The current time, UTC, aware."""
    return dt.datetime.now(dt.timezone.utc)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """``value`` as an aware UTC datetime (SQLite hands back naive ones)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


class Store:
    """The project's database: engine, schema creation and transactions."""

    def __init__(self, url: str, metadata: sa.MetaData, echo: bool = False) -> None:
        self.url = sa.make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        # hide_parameters: a failed statement's error (and so a log line) never shows the values it carried
        # (a visitor's answers and lead, tokens). JSON columns are written with orjson
        # (chinwag.json_text) and read with the standard library.
        options: dict[str, Any] = {"echo": echo, "hide_parameters": True, "json_serializer": dumps_column,
                                   "json_deserializer": json.loads}
        if self.is_sqlite:
            options["connect_args"] = {"timeout": 30}
        else:
            options.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.is_sqlite:
            sa.event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.metadata = metadata
        # A SQLite file's batched writes run on one thread of their own with the synchronous
        # driver: one hop per transaction instead of one per statement (``in_transaction``).
        self._sqlite_writer: tuple[sa.Engine, ThreadPoolExecutor] | None = None
        if self.is_sqlite and not _in_memory(self.url):
            writer = sa.create_engine(self.url.set(drivername="sqlite"), **options)
            sa.event.listen(writer, "connect", _sqlite_pragmas)
            sa.event.listen(writer, "connect", _driver_autocommit)
            sa.event.listen(writer, "begin", _begin_immediate)
            self._sqlite_writer = (writer, ThreadPoolExecutor(1, thread_name_prefix="chinwag-sqlite-writer"))

    async def create_schema(self) -> None:
        """Create every missing table of ``metadata`` as declared, under the schema lock.

        For a store of tables that no migration source owns (a test's own tables); an app's
        schema is made and upgraded by its migrations (``chinwag.schema_migrate``)."""
        async with self.schema_transaction() as connection:
            await connection.run_sync(self.metadata.create_all)

    @asynccontextmanager
    async def schema_transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction that holds the schema lock, for creating or
        upgrading tables: processes that start or upgrade together take turns.

        PostgreSQL: the advisory lock of ``one_at_a_time`` (two ``CREATE TABLE`` of one name at
        once fail there), and DDL is transactional, so an upgrade commits whole or not at all.
        SQLite: ``BEGIN IMMEDIATE`` (the write lock, taken before anything is read) with foreign
        keys off for the transaction, since rebuilding a table in batch mode drops the old one
        (with foreign keys on, that would cascade to the rows that refer to it); the keys are
        checked before the commit."""
        if not self.is_sqlite:
            async with self.engine.begin() as connection:
                await self.one_at_a_time(connection)
                yield connection
            return
        async with self.engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # not inside a transaction: it is ignored there
            await connection.commit()
            try:
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection
                broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if broken:
                    raise sa.exc.IntegrityError("PRAGMA foreign_key_check", None,
                                                Exception(f"rows refer to missing rows: {broken[:5]}"))
                await connection.commit()
            except BaseException:
                await connection.rollback()
                raise
            finally:
                await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                await connection.commit()

    async def one_at_a_time(self, connection: AsyncConnection) -> None:
        """Make the rest of ``connection``'s transaction wait for any other process in the same
        section (a PostgreSQL advisory lock, released at commit; SQLite has one writer anyway)."""
        if not self.is_sqlite:
            await connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": STARTUP_LOCK})

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction, committed on success and rolled back on error."""
        async with self.engine.begin() as connection:
            yield connection

    async def in_transaction(self, work: Callable[..., T], *args: Any) -> T:
        """``work(connection, *args)`` with a synchronous connection inside one transaction,
        committed when it returns and rolled back when it raises; its result.

        On a SQLite file the whole transaction runs on the store's writer thread with the
        synchronous driver: the event loop hands it over once and is told once when it is
        committed (through the async engine every statement, the begin and the commit each cost a
        round trip to the driver's thread). Elsewhere it runs through the async engine.
        """
        if self._sqlite_writer is None:
            async with self.engine.begin() as connection:
                return await connection.run_sync(work, *args)
        engine, thread = self._sqlite_writer

        def run() -> T:
            with engine.begin() as connection:
                return work(connection, *args)

        return await asyncio.get_running_loop().run_in_executor(thread, run)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (autobegin; nothing is committed)."""
        async with self.engine.connect() as connection:
            yield connection

    async def check_writable(self) -> None:
        """Commit one small write (the ``health_probe`` row); raise when the database cannot commit."""
        async with self.engine.begin() as connection:
            updated = await connection.execute(sa.update(health_probe).where(health_probe.c.id == 1)
                                               .values(checked_at=utcnow()))
            if updated.rowcount:
                return
        try:
            async with self.engine.begin() as connection:
                await connection.execute(sa.insert(health_probe).values(id=1, checked_at=utcnow()))
        except sa.exc.IntegrityError:  # another process wrote the row first: it committed, so can we
            return

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self._sqlite_writer is not None:
            engine, thread = self._sqlite_writer
            await asyncio.get_running_loop().run_in_executor(thread, engine.dispose)
            thread.shutdown(wait=True)


def storage_unavailable(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) says the database cannot be reached or cannot write.

    Such failures are the outage's, not a bug's: a PostgreSQL server refusing or dropping
    connections, a pool that times out, SQLite's "disk I/O error", "database or disk is full" or
    "attempt to write a readonly database" (all ``OperationalError``).
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa.exc.OperationalError) and _is_sqlite(current.orig):
            return any(phrase in str(current.orig).lower() for phrase in _SQLITE_OUTAGES)  # not "no such table"
        if isinstance(current, (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError,
                                sa.exc.TimeoutError, ConnectionError, asyncio.TimeoutError)):
            return True
        if isinstance(current, sa.exc.DBAPIError) and current.connection_invalidated:
            return True
        if type(current).__module__.startswith("asyncpg") and type(current).__name__ in _POSTGRES_CONNECTION_ERRORS:
            return True
        if type(current) is OSError:
            return True  # e.g. "Multiple exceptions: [Errno 111] ..." while connecting (asyncpg, unwrapped)
        current = current.__cause__ or current.__context__
    return False


def _in_memory(url: sa.URL) -> bool:
    """Whether a SQLite URL names an in-memory database (one per connection, or shared in one
    process by name): another engine would not see the same database."""
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database or url.query.get("mode") == "memory"


def _is_sqlite(error: BaseException | None) -> bool:
    return error is not None and type(error).__module__ == "sqlite3"


def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
    # The driver begins no transaction by itself (it would only before the first write): the
    # writer's transactions begin with ``_begin_immediate``.
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: sa.Connection) -> None:
    # The writer's transaction takes SQLite's write lock at once, so what it reads first (the
    # revisions of a batch's sessions) cannot change before it writes.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; NORMAL keeps every commit across a process crash
    # (an OS crash may lose the last commits: docs/architecture.md says when to use FULL).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()

"""A database that cannot be reached or cannot write: visitors get ``unavailable`` with a retry
hint (never ``internal``), ``/healthz`` says 503, and both recover when the database does.

PostgreSQL is reached through a TCP proxy the test stops (the server then refuses connections);
SQLite's writes fail because the server process may no longer write past the first byte of any
file (its RLIMIT_FSIZE), as on a full disk.
"""

from __future__ import annotations

import asyncio
import resource
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from chinwag.testing import QUICKSTART, ScriptedVisitor, ServerProcess, ServerThread, free_port, write_project


class TcpProxy:
    """Forwards a loopback port to a target address; ``stop()`` closes it (connections refused)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def _run(self, work) -> None:
        asyncio.run_coroutine_threadsafe(work, self._loop).result(30)

    def start(self) -> TcpProxy:
        """Listen (again) on ``port``."""
        self._run(self._start())
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port, reuse_address=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, target_writer}

        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                sink.close()

        await asyncio.gather(copy(reader, target_writer), copy(target_reader, writer))

    def stop(self) -> None:
        """Stop listening and cut every open connection."""
        self._run(self._stop())

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def close(self) -> None:
        """Stop and end the proxy's thread."""
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy to the test's PostgreSQL database, and the database URL through it."""
    url = sa.make_url(postgres_url)
    running = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield running, url.set(host="127.0.0.1", port=running.port).render_as_string(hide_password=False)
    running.close()


async def until_healthz(base_url: str, status: int) -> httpx.Response:
    """Poll ``/healthz`` until it answers ``status`` (the server's own retries take a moment)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for _ in range(300):
            response = await client.get("/healthz")
            if response.status_code == status:
                return response
            await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz never answered {status}: {response.status_code} {response.text}")


async def answer_until_played(visitor: ScriptedVisitor, value: str) -> dict:
    """Answer, retrying while the server says ``unavailable``, as the widget would after ``retry_after``."""
    for _ in range(100):
        await visitor.answer(value)
        frame = await visitor.until("answered", timeout=60)
        if frame["type"] == "answered":
            return frame
        assert frame["code"] == "unavailable", frame
        await asyncio.sleep(0.2)
    raise AssertionError("the answer was never played")


async def test_postgresql_refusing_connections_means_unavailable_then_recovery(proxy: tuple[TcpProxy, str],
                                                                               tmp_path: Path) -> None:
    tcp_proxy, database = proxy
    folder = write_project(tmp_path / "p", copy_from=QUICKSTART, config={"database": database})
    with ServerThread(folder, demo=False) as server, ServerProcess(folder, log_path=tmp_path / "other.log") as other:
        async with ScriptedVisitor(server) as visitor, ScriptedVisitor(other) as elsewhere:
            for each in (visitor, elsewhere):
                await each.connect()
                await each.question()
            tcp_proxy.stop()
            for each, process in ((visitor, server), (elsewhere, other)):  # both processes, the same answer
                await each.answer("demo")
                refused = await each.until("answered", timeout=60)
                assert (refused["type"], refused["code"]) == ("error", "unavailable"), refused
                assert refused["retry_after"] > 0
                health = await until_healthz(process.url, 503)
                assert health.json()["status"] == "unavailable" and health.headers["retry-after"]
                async with ScriptedVisitor(process) as newcomer:  # a hello while down: unavailable as well
                    assert (await newcomer.connect())["code"] == "unavailable"

            tcp_proxy.start()
            for each, process in ((visitor, server), (elsewhere, other)):
                await until_healthz(process.url, 200)
                assert (await answer_until_played(each, "demo"))["text"] == "I'd like a demo"
                assert (await each.question())["card"] == "name"
        async with ScriptedVisitor(other, visitor=visitor.visitor, session=visitor.session) as moved:
            assert (await moved.connect())["awaiting"] == visitor.awaiting  # stored once, seen by the other process
        assert "internal error" not in other.log()


async def test_sqlite_write_failure_means_unavailable_and_healthz_503_then_recovery(tmp_path: Path) -> None:
    folder = write_project(tmp_path / "p", copy_from=QUICKSTART)
    with ServerProcess(folder, log_path=tmp_path / "server.log") as server:
        async with ScriptedVisitor(server) as visitor:
            await visitor.connect()
            await visitor.question()
            _, hard = resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE)
            resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (1, hard))  # no write past byte 1
            try:
                health = await until_healthz(server.url, 503)
                assert health.json()["database"] == "cannot_commit"
                await visitor.answer("demo")
                refused = await visitor.until("answered", timeout=60)
                assert (refused["type"], refused["code"]) == ("error", "unavailable"), refused
                assert refused["retry_after"] > 0
            finally:
                resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (hard, hard))
            await until_healthz(server.url, 200)
            assert (await answer_until_played(visitor, "demo"))["text"] == "I'd like a demo"
            assert (await visitor.question())["card"] == "name"
        assert "internal error" not in server.log()


async def test_a_bug_in_sql_is_not_mistaken_for_an_outage(tmp_path: Path) -> None:
    from chinwag.store import Store, storage_unavailable

    database = tmp_path / "x.db"
    store = Store(f"sqlite+aiosqlite:///{database}", sa.MetaData())
    async with store.transaction() as connection:
        await connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    with pytest.raises(sa.exc.OperationalError) as missing:  # a wrong table name: the code's fault
        async with store.connect() as connection:
            await connection.execute(sa.text("SELECT * FROM no_such_table"))
    assert not storage_unavailable(missing.value)
    await store.close()
    read_only = Store(f"sqlite+aiosqlite:///file:{database}?mode=ro&uri=true", sa.MetaData())
    with pytest.raises(sa.exc.OperationalError) as refused:  # a file that cannot be written: an outage
        async with read_only.transaction() as connection:
            await connection.execute(sa.text("INSERT INTO t VALUES (1)"))
    assert storage_unavailable(refused.value), refused.value
    await read_only.close()

"""A pytest plugin for chinwag and for plugin authors (loaded through the ``pytest11`` entry point).

* ``write_project(path, config, dialogues)`` writes a project folder.
* ``ServerThread(project)`` runs the real server (uvicorn) on a free loopback port in a thread.
* ``ServerProcess(project)`` runs ``chinwag serve`` as a separate process (to kill it, or to run
  two against one database).
* ``ScriptedVisitor(server)`` talks to it over a real WebSocket, frame by frame.
* ``registered_plugin(plugin, name)`` registers an in-process plugin for the length of a ``with``.
* ``headless_chromium()`` launches the system's Chromium through Playwright for browser tests
  (never downloaded; missing, the test skips locally and fails in CI).
* Fixtures: ``chinwag_project`` (a copy of the quickstart), ``chinwag_server`` (serving it),
  ``postgres_url`` (a fresh PostgreSQL database; needs ``CHINWAG_TEST_POSTGRES_URL``).
* Every app a test starts upgrades its database to the migrations' head first: this plugin sets
  ``CHINWAG_MIGRATE=1`` (unless the environment already sets it), which in-process apps and
  ``chinwag serve`` processes alike obey; a test of the refusal sets it to ``""`` or ``0``.
* For provider plugins: ``FAST_RETRY_SETTINGS`` (retries that keep tests quick) and
  ``sandbox_grant`` (a ``Grant`` for an account of a sandbox).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import secrets
import shutil
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

# The contract suites plugin authors subclass: their asserts explain themselves like a test's.
pytest.register_assert_rewrite("chinwag.testing_crm")

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart"
POSTGRES_VARIABLE = "CHINWAG_TEST_POSTGRES_URL"


def pytest_configure(config: pytest.Config) -> None:
    """Tests start apps on fresh databases: each upgrades its schema first (``CHINWAG_MIGRATE``)."""
    from .schema_policy import MIGRATE_VARIABLE

    os.environ.setdefault(MIGRATE_VARIABLE, "1")


def write_project(path: Path, config: Mapping[str, Any] | None = None,
                  dialogues: Mapping[str, Mapping[str, Any] | str] | None = None,
                  copy_from: Path | None = None) -> Path:
    """Write a project folder: ``config`` becomes chinwag.yaml and each dialogue a YAML file.

    With ``copy_from`` the folder starts as a copy of that project (its database left behind);
    ``config`` keys then override the copied ones.
    """
    path.mkdir(parents=True, exist_ok=True)
    current: dict[str, Any] = {}
    if copy_from is not None:
        shutil.copytree(copy_from, path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.db", "*.db-*"))
        current = yaml.safe_load((path / "chinwag.yaml").read_text()) or {}
    if config is not None or copy_from is None:
        current.update(config or {})
        (path / "chinwag.yaml").write_text(yaml.safe_dump(current, sort_keys=False))
    (path / "dialogues").mkdir(exist_ok=True)
    for name, dialogue in (dialogues or {}).items():
        text = dialogue if isinstance(dialogue, str) else yaml.safe_dump(dict(dialogue), sort_keys=False)
        (path / "dialogues" / f"{name}.yaml").write_text(text)
    return path


class ServerThread:
    """The real chinwag server on a free loopback port, run by uvicorn in a background thread."""

    def __init__(self, project_dir: Path | str, host: str = "127.0.0.1", port: int = 0, demo: bool = True) -> None:
        from .app import Chinwag
        from .server import create_app

        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port = self._socket.getsockname()[1]
        try:
            self.app = Chinwag.from_project(project_dir, served_at=self.url)
        except BaseException:
            self._socket.close()
            raise
        self.asgi = create_app(self.app, demo=demo)
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        """``http://host:port``, which is also the server's own origin."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The chat WebSocket's URL."""
        return f"ws://{self.host}:{self.port}/ws"

    def start(self) -> ServerThread:
        """Start serving; return when the server accepts connections."""
        import uvicorn

        config = uvicorn.Config(self.asgi, log_level="warning", ws_max_size=1 << 20, ws_per_message_deflate=False,
                                lifespan="on")
        self._server = uvicorn.Server(config)
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(ready.set)
            self._loop.run_until_complete(self._server.serve(sockets=[self._socket]))
            self._loop.close()

        self._thread = threading.Thread(target=run, name=f"chinwag-server-{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        for _ in range(500):
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self._server.started:
            raise RuntimeError("the chinwag server did not start (see the log above)")
        return self

    def call(self, work: Callable[[Any], Awaitable[Any]], timeout: float = 30) -> Any:
        """Run ``await work(app)`` on the server's own event loop and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(work(self.app), self._loop).result(timeout)

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
        self._socket.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """``chinwag serve PROJECT`` in a process of its own, on a free loopback port.

    ``start()`` returns once ``/healthz`` answers 200; ``kill()`` ends it with SIGKILL (a crash),
    ``stop()`` with SIGTERM. Its output goes to ``log_path``.
    """

    def __init__(self, project_dir: Path | str, port: int | None = None, env: Mapping[str, str] | None = None,
                 log_path: Path | None = None, args: tuple[str, ...] = ()) -> None:
        self.project_dir = Path(project_dir)
        self.port = port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path or self.project_dir / f"server-{self.port}.log"
        self.args = args
        self.process: Any = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:port``, which is also the server's own origin."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """The chat WebSocket's URL."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 120) -> ServerProcess:
        """Start the process; return when it is healthy, raise with its log when it exits first."""
        import subprocess
        import sys
        import time

        import httpx

        command = [str(Path(sys.executable).with_name("chinwag")), "serve", str(self.project_dir),
                   "--port", str(self.port), *self.args]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chinwag serve exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"chinwag serve did not become healthy in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        """What the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """End the process at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(15)

    def stop(self) -> None:
        """Ask the process to stop (SIGTERM) and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except Exception:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()


class ScriptedVisitor:
    """A visitor that talks to a chinwag server over its real WebSocket, one frame at a time."""

    def __init__(self, server: ServerThread | ServerProcess | str, origin: str | None = None, visitor: str | None = None,
                 session: str | None = None, page_url: str = "http://127.0.0.1/", timezone: str = "Europe/London",
                 locale: str = "en-GB", headers: Mapping[str, str] | None = None) -> None:
        """``headers`` are sent with the WebSocket request (a User-Agent, a proxy's country header or
        X-Forwarded-For...)."""
        self.ws_url = server if isinstance(server, str) else server.ws_url
        self.headers = dict(headers or {})
        self.origin = origin or (None if isinstance(server, str) else server.url)
        self.visitor, self.session = visitor, session
        self.page_url, self.timezone, self.locale = page_url, timezone, locale
        self.frames: list[dict[str, Any]] = []
        self.awaiting: str | None = None
        self._socket: Any = None

    async def open(self) -> None:
        """Open the socket without saying hello."""
        import websockets

        self._socket = await websockets.connect(self.ws_url, origin=self.origin, max_size=1 << 22,
                                                additional_headers=self.headers or None)

    async def connect(self, timeout: float = 10, **hello: Any) -> dict[str, Any]:
        """Open the socket, say hello (fields may be overridden) and return the ``welcome`` (waiting
        up to ``timeout`` seconds for it)."""
        if self._socket is None:
            await self.open()
        await self.send({"type": "hello", "protocol": 1, "visitor": self.visitor, "session": self.session,
                         "page": {"url": self.page_url}, "timezone": self.timezone, "locale": self.locale, **hello})
        welcome = await self.until("welcome", timeout=timeout)
        if welcome["type"] == "welcome":
            self.visitor, self.session, self.awaiting = welcome["visitor"], welcome["session"], welcome["awaiting"]
        return welcome

    async def send(self, frame: Mapping[str, Any] | str) -> None:
        """Send a frame (a dict as JSON, a string as it is)."""
        await self._socket.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        """The next frame from the server."""
        frame = json.loads(await asyncio.wait_for(self._socket.recv(), timeout))
        self.frames.append(frame)
        if frame["type"] == "question":
            self.awaiting = frame["id"]
        return frame

    async def until(self, *types: str, timeout: float = 10) -> dict[str, Any]:
        """Read frames until one of ``types`` (or an error) arrives; return it."""
        while True:
            frame = await self.receive(timeout)
            if frame["type"] in types or frame["type"] == "error":
                return frame

    async def question(self, timeout: float = 10) -> dict[str, Any]:
        """The next question."""
        return await self.until("question", timeout=timeout)

    async def answer(self, value: Any, question: str | None = None) -> None:
        """Answer the open question (or ``question``)."""
        await self.send({"type": "answer", "question": question or self.awaiting, "value": value})

    async def run_through(self, *answers: Any, until_event: str = "completed", **hello: Any) -> ScriptedVisitor:
        """Say hello, answer each open question with ``answers`` in turn, then wait for ``until_event``.

        An ``error`` frame on the way fails with its message (an ``AssertionError``).
        """
        await self.connect(**hello)
        for value in answers:
            frame = await self.until("question")
            assert frame["type"] == "question", f"expected a question, got {frame}"
            await self.answer(value)
        while until_event not in self.events():
            frame = await self.until("event")
            assert frame["type"] != "error", f"the server answered with an error: {frame}"
        return self

    async def close(self) -> None:
        """Leave."""
        if self._socket is not None:
            await self._socket.close()

    async def __aenter__(self) -> ScriptedVisitor:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.close()

    def texts(self) -> list[str]:
        """Every message and question text received so far, in order."""
        return [frame["text"] for frame in self.frames if frame["type"] in ("message", "question")]

    def events(self) -> list[str]:
        """The names of the event frames received so far."""
        return [frame["name"] for frame in self.frames if frame["type"] == "event"]


@contextlib.contextmanager
def registered_plugin(plugin: object, name: str) -> Iterator[object]:
    """Register ``plugin`` under ``name`` for the length of the ``with`` block."""
    from .plugins import host

    host.register_temporarily(plugin, name)
    try:
        yield plugin
    finally:
        host.unregister(name)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """Where the system's Chromium is (``CHINWAG_CHROMIUM``, else ``chromium`` on the PATH), if anywhere."""
    return os.environ.get("CHINWAG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def headless_chromium() -> Iterator[Any]:
    """A headless Chromium (Debian's package, never downloaded) launched through Playwright's
    sync API, closed afterwards. Without Chromium or Playwright the test skips, or fails when
    ``CI`` is set, so a CI machine without a browser can never pass by skipping.

    Use it in a module-scoped fixture, not a session-scoped one: while it is open Playwright's
    sync API keeps an event loop running, which the asyncio tests collected after need free.
    """
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        executable = None
    if executable is None:
        reason = "no Chromium or Playwright: apt-get install chromium, and pip install -e '.[test]'"
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def chinwag_project(tmp_path: Path) -> Path:
    """A temporary copy of the quickstart project."""
    return write_project(tmp_path / "project", copy_from=QUICKSTART)


@pytest.fixture
def chinwag_server(chinwag_project: Path) -> Iterator[ServerThread]:
    """The real server serving ``chinwag_project``, with the demo pages."""
    with ServerThread(chinwag_project) as server:
        yield server


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped afterwards.

    Set ``CHINWAG_TEST_POSTGRES_URL`` (``make test`` and CI do) to a database the tests may
    create databases from, e.g. ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``.
    """
    base = os.environ.get(POSTGRES_VARIABLE)
    if not base:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_VARIABLE} must be set in CI")
        pytest.skip(f"set {POSTGRES_VARIABLE} to run PostgreSQL tests")
    import sqlalchemy as sa

    url = sa.make_url(base)
    name = f"chinwag_test_{secrets.token_hex(6)}"
    _postgres_admin(url, f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        _postgres_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_admin(url: Any, statement: str) -> None:
    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                           password=url.password, database=url.database)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    # On a thread of its own, so the fixture works from async tests and fixtures too.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


# -- provider plugins with a sandbox (see chinwag.sandbox) ------------------------------------------

# Provider settings that keep retry tests fast: three quick retries, short waits.
FAST_RETRY_SETTINGS = {"max_retries": 3, "retry_base_delay": 0.01, "retry_max_delay": 2}


def sandbox_grant(state: Any, agent_email: str, calendar_id: str, saved: list[dict[str, Any]]) -> Any:
    """The ``Grant`` chinwag holds once ``agent_email`` connected through a sandbox.

    ``state`` is a ``chinwag.sandbox.SandboxState``; every token dict the provider asks chinwag to
    store is appended to ``saved``.
    """
    from .calendars import Grant

    async def save(tokens: dict[str, Any]) -> None:
        saved.append(dict(tokens))

    return Grant(agent_email=agent_email, calendar_id=calendar_id, tokens=state.stored_tokens(agent_email), saver=save)


def calendar_sandbox_fixtures(serve: Callable[..., Any], new_state: Callable[[], Any],
                              new_provider: Callable[[dict[str, Any]], Any], calendar_id: str,
                              agent: str = "agent@example.com") -> tuple[Any, Any, Any, Any]:
    """The four fixtures a calendar provider plugin's tests share, for a sandbox built on
    ``chinwag.sandbox``: ``sandbox`` (served on loopback by ``serve(state=new_state())``),
    ``provider`` (``new_provider(settings)`` with ``FAST_RETRY_SETTINGS``, closed afterwards),
    ``saved`` (the token dicts the provider stored) and ``grant`` (``agent``'s, connected to
    ``calendar_id``). In the plugin's conftest.py::

        sandbox, provider, saved, grant = calendar_sandbox_fixtures(
            serve_in_thread, MySandboxState, lambda settings: MyProvider(MySettings.from_config(settings)), "primary")
    """

    @pytest.fixture(name="sandbox")
    def sandbox_fixture() -> Iterator[Any]:
        """A fresh sandbox served over HTTP on 127.0.0.1."""
        with serve(state=new_state()) as server:
            yield server

    @pytest.fixture(name="provider")
    async def provider_fixture(sandbox: Any) -> Any:
        """The real provider, with short backoff so retry tests stay fast."""
        provider = new_provider({**sandbox.plugin_config(), **FAST_RETRY_SETTINGS})
        yield provider
        await provider.aclose()

    @pytest.fixture(name="saved")
    def saved_fixture() -> list[dict[str, Any]]:
        """Every token dict the provider asked chinwag to store, in order."""
        return []

    @pytest.fixture(name="grant")
    def grant_fixture(sandbox: Any, saved: list[dict[str, Any]]) -> Any:
        """The agent's grant, as chinwag holds it after the agent connected their calendar."""
        return sandbox_grant(sandbox.state, agent, calendar_id, saved)

    return sandbox_fixture, provider_fixture, saved_fixture, grant_fixture


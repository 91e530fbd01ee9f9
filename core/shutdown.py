"""Rolling restarts: a serving process that is asked to stop lets its visitors go to another one.

On SIGTERM (or Ctrl-C) ``GracefulServer`` first stops accepting connections, then drains the
chat connections (``ChatConnections.drain``): an idle one is closed at once with the WebSocket
code 1012, "service restart"; one whose turn is being played finishes it, sends its frames, and
is closed the same way. The widget reconnects at once (behind a load balancer, to another
process) and resumes at the step it was at: the session lives in the database. Only then does
uvicorn's own shutdown run, with the app's ``stop`` last (the turn writer flushed, the outbox's
delivery under way settled and its leases released).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.websockets import WebSocket

log = logging.getLogger("chinwag.server")

SERVICE_RESTART = 1012  # the WebSocket close code: "the server is restarting; connect again"
DEFAULT_SHUTDOWN_TIMEOUT = 30.0  # seconds the turns in flight get to finish at shutdown


class ChatConnection:
    """One open chat socket: whether a frame of it is being played, whether it was closed for a restart."""

    __slots__ = ("websocket", "busy", "closed")

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.busy = False
        self.closed = False

    async def close_for_restart(self) -> None:
        """Close the socket with 1012 (once; the visitor's widget connects again)."""
        if self.closed:
            return
        self.closed = True
        try:
            await self.websocket.close(code=SERVICE_RESTART, reason="service restart")
        except Exception:  # the visitor left meanwhile: nothing to close
            pass


class ChatConnections:
    """The chat sockets open in this process, so a shutdown can hand each visitor to another process.

    ``on_count`` is told +1 and -1 as sockets open and close (the connected-visitors gauge).
    """

    def __init__(self, on_count: Any = None) -> None:
        self.draining = False
        self._open: set[ChatConnection] = set()
        self._none_open = asyncio.Event()
        self._none_open.set()
        self._on_count = on_count

    def __len__(self) -> int:
        return len(self._open)

    def add(self, websocket: WebSocket) -> ChatConnection:
        """Count an accepted chat socket in."""
        connection = ChatConnection(websocket)
        self._open.add(connection)
        self._none_open.clear()
        if self._on_count is not None:
            self._on_count(1)
        return connection

    def discard(self, connection: ChatConnection) -> None:
        """Count a socket out (it closed, whoever closed it)."""
        if connection in self._open:
            self._open.remove(connection)
            if self._on_count is not None:
                self._on_count(-1)
        if not self._open:
            self._none_open.set()

    async def drain(self, timeout: float) -> int:
        """Close every chat socket with 1012 once its turn in flight (if any) has sent its frames;
        wait up to ``timeout`` seconds for all of them to close. Returns how many were still open then."""
        self.draining = True
        count = len(self._open)
        idle = [connection for connection in self._open if not connection.busy]
        await asyncio.gather(*(connection.close_for_restart() for connection in idle))
        try:
            await asyncio.wait_for(self._none_open.wait(), timeout)
        except TimeoutError:
            log.warning("shutdown: %d chat connection(s) still playing a turn after %g s; closing them anyway",
                        len(self._open), timeout)
            return len(self._open)
        if count:
            log.info("shutdown: %d chat connection(s) closed with 1012 (service restart)", count)
        return 0


def chat_connections(app: Any) -> ChatConnections | None:
    """The ``ChatConnections`` of the chinwag app inside uvicorn's middleware (each wrapper keeps
    the app it wraps as ``.app``), or None for an app that is not chinwag's."""
    for _ in range(16):
        connections = getattr(getattr(app, "state", None), "connections", None)
        if isinstance(connections, ChatConnections):
            return connections
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class GracefulServer(uvicorn.Server):
    """uvicorn's server, with the chat connections drained (see the module docstring) before
    uvicorn closes what is left and runs the app's shutdown. The drain waits at most the config's
    ``timeout_graceful_shutdown`` (``chinwag serve --shutdown-timeout``). ``on_started`` is called
    once the server serves (a worker tells its supervisor so)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], Any] | None = None) -> None:
        super().__init__(config)
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start as uvicorn does, then call ``on_started``."""
        await super().startup(sockets)
        if self.started and self.on_started is not None:
            self.on_started()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting, drain the chat connections, then shut down as uvicorn does."""
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        connections = chat_connections(self.config.loaded_app)
        if connections is not None:
            timeout = self.config.timeout_graceful_shutdown
            await connections.drain(DEFAULT_SHUTDOWN_TIMEOUT if timeout is None else timeout)
        await super().shutdown(sockets)

"""The ASGI app: the WebSocket at /ws, the widget, health, the plugin listing, admin and plugins' routes.

The road of one chat turn: ``chat_socket`` here decodes a frame, ``chinwag.session`` loads the
session and runs ``chinwag.engine``, saves the turn, and the frames go back over the socket.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from .abuse_limits import FrameBudget, admit_connection, close_connection, hello_wait
from .admin import admin_routes
from .app import STATIC_DIR, Chinwag
from .engine import EngineError
from .logs import chat_ids
from .metrics import serve_metrics
from .plugins import PluginError
from .problems import InvalidProject
from .schema_policy import SchemaNotReady
from .protocol import Answer, FrameError, Hello, Ping, Start, Trigger, WindowChange, decode, encode, error_frame
from .security_headers import SecurityHeaders
from .session import Conversation
from .shutdown import ChatConnections
from .store import RETRY_AFTER_SECONDS, storage_unavailable
from .turn_writer import SessionConflict
from .widget_asset import CompressedAsset, lean_script

log = logging.getLogger("chinwag.server")


class ChinwagStarlette(Starlette):
    """Starlette, with chinwag's start and stop as the ASGI lifespan.

    A start refused by a plugin (strict mode, or a plugin's ``InvalidProject``) is reported to the
    server as one line, not a traceback, and the server exits without serving.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await super().__call__(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        chinwag: Chinwag = self.state.chinwag
        await receive()  # lifespan.startup
        try:
            await chinwag.start()
            await chinwag.publisher.auto_publish()
        except (PluginError, InvalidProject, SchemaNotReady) as error:
            message = f"chinwag cannot start: {error}"
        except Exception as error:
            log.exception("chinwag failed to start")
            message = f"chinwag cannot start: {error!r}"
        else:
            message = None
            chinwag.deliver()
            message = self._serve_metrics()
        if message is not None:
            with contextlib.suppress(Exception):  # close what was opened before the server exits
                await chinwag.stop()
            await send({"type": "lifespan.startup.failed", "message": message})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        if self.state.metrics_server is not None:
            self.state.metrics_server.shutdown()
        try:
            await chinwag.stop()
        except BaseException as error:
            log.exception("chinwag failed to stop cleanly")
            await send({"type": "lifespan.shutdown.failed", "message": repr(error)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    def _serve_metrics(self) -> str | None:
        """Serve the metrics at ``state.metrics_address`` (host, port) if one was given; why not, if that failed."""
        self.state.metrics_server = None
        if self.state.metrics_address is None:
            return None
        host, port = self.state.metrics_address
        try:
            self.state.metrics_server = serve_metrics(host, port, self.state.chinwag.metrics.registry)
        except OSError as error:
            return f"chinwag cannot start: cannot serve the metrics at {host}:{port}: {error.strerror or error}"
        return None


def create_app(chinwag: Chinwag, demo: bool = False, metrics_address: tuple[str, int] | None = None) -> Starlette:
    """The Starlette app serving ``chinwag``; ``demo`` adds the demo pages at ``/``; ``metrics_address``
    (host, port) also serves the metrics there, without the admin token (``chinwag serve --metrics-address``)."""
    routes: list[BaseRoute] = [
        WebSocketRoute("/ws", chat_socket),
        Route("/widget.js", widget_js().respond),
        Route("/healthz", healthz),
        Route("/-/plugins.json", plugins_json),
        *admin_routes(),
    ]
    chinwag.plugins.call("register_routes", register=routes.append, app=chinwag)
    if demo:
        from .demo import demo_routes

        routes.extend(demo_routes(chinwag))
    app = ChinwagStarlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
    app.state.chinwag = chinwag
    app.state.connections = ChatConnections(chinwag.metrics.count_connections)
    app.state.metrics_address = metrics_address
    return app


def widget_js() -> CompressedAsset:
    """The embeddable widget script (loaded by other sites' pages: CORS and CORP allow that)."""
    return CompressedAsset(STATIC_DIR / "widget.js", "text/javascript; charset=utf-8",
                           {"Access-Control-Allow-Origin": "*", "Cross-Origin-Resource-Policy": "cross-origin"},
                           transform=lean_script)


async def healthz(request: Request) -> Response:
    """For load balancers: 200 when the database answers and takes a commit, 503 when it does not
    or the process is shutting down."""
    chinwag: Chinwag = request.app.state.chinwag
    assert chinwag.store is not None, "the app has not started"
    if request.app.state.connections.draining:  # shutting down: the load balancer should look elsewhere
        return JSONResponse({"status": "draining"}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    try:
        async with chinwag.store.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
    except Exception as error:  # any database failure means this process cannot serve chats
        return _unhealthy("unreachable", error)
    try:
        await chinwag.store.check_writable()
    except Exception as error:  # reads work but nothing can be stored: no turn could be played
        return _unhealthy("cannot_commit", error)
    return JSONResponse({"status": "ok", "dialogues": len(chinwag.dialogues)})


def _unhealthy(database: str, error: BaseException) -> Response:
    log.warning("health check: database %s: %r", database, error)
    return JSONResponse({"status": "unavailable", "database": database, "error": type(error).__name__},
                        status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def plugins_json(request: Request) -> Response:
    """The installed plugins, as ``chinwag plugins`` prints them (``?all=1`` adds built-ins)."""
    chinwag: Chinwag = request.app.state.chinwag
    include_builtin = request.query_params.get("all") in ("1", "true")
    return JSONResponse(chinwag.plugins.listing(include_builtin=include_builtin))


def origin_allowed(websocket: WebSocket, allowed: tuple[str, ...]) -> bool:
    """Whether the socket's Origin is an allowed origin or the server's own."""
    origin = websocket.headers.get("origin")
    if not origin:
        return False
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    own = f"{scheme}://{websocket.headers.get('host', '')}"
    return origin == own or origin in allowed


async def chat_socket(websocket: WebSocket) -> None:
    """One visitor connection: frames in, turns played, frames out, until the visitor leaves or the
    process shuts down (then closed with 1012, "service restart", once the turn in flight is sent)."""
    chinwag: Chinwag = websocket.app.state.chinwag
    connections: ChatConnections = websocket.app.state.connections
    if not origin_allowed(websocket, chinwag.config.allowed_origins):
        log.info("refused WebSocket from origin %r", websocket.headers.get("origin"))
        await websocket.close(code=1008)
        return
    await websocket.accept()
    address = await admit_connection(websocket, chinwag)
    if address is None:
        return
    limits, metrics = chinwag.config.limits, chinwag.metrics
    conversation: Conversation | None = None
    budget = FrameBudget(limits.frames_per_second)
    connection = connections.add(websocket)
    try:
        if connections.draining:
            await connection.close_for_restart()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if not budget.spend():  # dropped unplayed; said once per run of dropped frames
                if budget.tell() and not connection.closed:
                    metrics.error_frame("rate_limited")
                    await websocket.send_text(encode(error_frame(
                        "rate_limited", f"at most {limits.frames_per_second} frames a second; that frame was dropped")))
                continue
            arrived = time.perf_counter()
            data = message.get("text") if message.get("text") is not None else message.get("bytes", b"")
            connection.busy = True
            try:
                kind, conversation, frames = await _play(chinwag, conversation, data, websocket.headers, address)
            finally:
                connection.busy = False
            # Closed for a restart while the frame waited: the turn is stored all the same, and the
            # visitor reads its frames in the transcript of the next welcome.
            if not connection.closed:
                for frame in frames:
                    await websocket.send_text(encode(frame))  # encode always gives valid UTF-8 text
            metrics.turn_played(kind, frames, time.perf_counter() - arrived)
            if connections.draining:
                await connection.close_for_restart()
    except WebSocketDisconnect:
        return
    finally:
        connections.discard(connection)
        with contextlib.suppress(Exception):
            await close_connection(chinwag.store, limits, address)  # type: ignore[arg-type]
        if websocket.application_state == WebSocketState.CONNECTED and websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()


# The name each client frame's turn is counted under in the metrics.
FRAME_KIND = {Hello: "hello", Answer: "answer", Start: "start", Trigger: "trigger", Ping: "ping"}


async def _play(chinwag: Chinwag, conversation: Conversation | None, data: Any,
                headers: Mapping[str, str], address: str) -> tuple[str, Conversation | None, list[dict[str, Any]]]:
    """Handle one client frame from ``address``; every failure becomes an error frame and the session lives on.

    Returns the frame's kind (for the metrics), the connection's conversation and the frames to send.
    ``headers`` are the WebSocket request's: targeting reads the device and location from them."""
    try:
        frame = decode(data)
    except FrameError as error:
        return "bad_frame", conversation, [error_frame(error.code, error.message)]
    kind = frame.name if isinstance(frame, WindowChange) else FRAME_KIND[type(frame)]
    if conversation is not None:
        chat_ids(conversation.visitor_id, conversation.session_id)
    try:
        conversation, frames = await _play_frame(chinwag, conversation, frame, headers, address)
    except FrameError as error:
        return kind, conversation, [error_frame(error.code, error.message)]
    except EngineError as error:
        return kind, conversation, [error_frame(error.code, str(error))]
    except SessionConflict:
        try:
            welcome = await chinwag.conversations.resync(conversation)  # type: ignore[arg-type]
        except Exception as error:
            return kind, conversation, [failure_frame(error)]
        return kind, conversation, [error_frame("conflict", "the conversation changed elsewhere; here it is again"), *welcome]
    except Exception as error:
        return kind, conversation, [failure_frame(error)]
    if conversation is not None:
        chat_ids(conversation.visitor_id, conversation.session_id)
    return kind, conversation, frames


def failure_frame(error: Exception) -> dict[str, Any]:
    """The error frame for an unexpected failure: ``unavailable`` (with ``retry_after`` seconds)
    when the database cannot be reached or cannot write, else ``internal``."""
    if storage_unavailable(error):
        log.warning("database unavailable while playing a frame: %r", error)
        return {**error_frame("unavailable", "the chat is briefly unavailable; please try again in a few seconds"),
                "retry_after": RETRY_AFTER_SECONDS}
    log.error("internal error while playing a frame", exc_info=error)
    return error_frame("internal", "something went wrong on our side; please try again")


async def _play_frame(chinwag: Chinwag, conversation: Conversation | None, frame: Any,
                      headers: Mapping[str, str], address: str) -> tuple[Conversation | None, list[dict[str, Any]]]:
    """Play one decoded frame from ``address``; failures are ``_play``'s to turn into frames."""
    if isinstance(frame, Ping):
        return conversation, [{"type": "pong"}]
    if isinstance(frame, Hello):
        if conversation is not None:
            raise FrameError("not_ready", "hello was already sent on this connection")
        limited = await _over_chat_limit(chinwag, address)
        if limited is not None:
            return conversation, [limited]
        return await chinwag.conversations.hello(frame, headers)
    if conversation is None:
        raise FrameError("not_ready", "send hello first")
    if isinstance(frame, Trigger):
        return conversation, await chinwag.conversations.trigger(conversation, frame.dialogue)
    if isinstance(frame, WindowChange):
        return conversation, await chinwag.conversations.window_changed(conversation, frame.name)
    if isinstance(frame, Start):  # a new chat, like a hello: counted against the same limit
        limited = await _over_chat_limit(chinwag, address)
        if limited is not None:
            return conversation, [limited]
        return conversation, await chinwag.conversations.start(conversation, frame)
    assert isinstance(frame, Answer)
    return conversation, await chinwag.conversations.answer(conversation, frame)


async def _over_chat_limit(chinwag: Chinwag, address: str) -> dict[str, Any] | None:
    """Count one more new chat (a ``hello`` or a ``start``) from ``address``; the ``rate_limited``
    frame when that is over ``limits.hellos_per_address``, else None."""
    wait = await hello_wait(chinwag.store, chinwag.config.limits, address)  # type: ignore[arg-type]
    if wait is None:
        return None
    return {**error_frame("rate_limited", f"too many new chats from your address; try again in {wait} s"),
            "retry_after": wait}


def app_from_environment() -> Starlette:
    """The app for ``CHINWAG_PROJECT`` (a factory for uvicorn, which ``chinwag serve`` uses), listening
    at ``CHINWAG_SERVED_AT`` (see ``Chinwag.served_at``), serving its metrics at ``CHINWAG_METRICS_ADDRESS``
    (``host:port``) when set."""
    import os

    chinwag = Chinwag.from_project(os.environ["CHINWAG_PROJECT"], served_at=os.environ.get("CHINWAG_SERVED_AT") or None)
    metrics_at = os.environ.get("CHINWAG_METRICS_ADDRESS")
    host, _, port = (metrics_at or "").rpartition(":")
    return create_app(chinwag, demo=bool(os.environ.get("CHINWAG_DEMO")),
                      metrics_address=(host.strip("[]"), int(port)) if metrics_at else None)

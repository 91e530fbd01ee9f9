"""The stack's own limit: a bare Starlette WebSocket endpoint that answers each frame at once.

It speaks just enough of the chat protocol for the load generator (``bench.load``): a ``hello``
gets a ``welcome`` and a ``question``, every other frame an ``answered`` and the next
``question``, the same frames a chinwag turn sends, with no engine and no database. It runs
under the uvicorn settings ``chinwag serve`` uses, so the ratio chinwag/bare measures what
chinwag adds on top of Starlette, uvicorn and the WebSocket library.

Run: ``python -m bench.bare --port 8100``.
"""

from __future__ import annotations

import argparse
import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

OPTIONS = [{"id": "yes", "label": "Yes"}, {"id": "no", "label": "No"}]


def question_frame(step: int) -> str:
    """A question frame shaped like chinwag's (same fields, similar size)."""
    return json.dumps({"type": "question", "id": f"q{step % 3 + 1}:{step}", "card": f"q{step % 3 + 1}",
                       "text": "Would you like to hear more?", "delay": 0.0,
                       "input": {"kind": "buttons", "options": OPTIONS}}, separators=(",", ":"))


async def chat(websocket: WebSocket) -> None:
    """Answer each client frame with the frames a chinwag turn would send."""
    await websocket.accept()
    step = 0
    try:
        while True:
            # Decode every frame like a real endpoint must; the reply is built fresh each time.
            frame = json.loads(await websocket.receive_text())
            if frame.get("type") == "hello":
                reply = {"type": "welcome", "protocol": 1, "visitor": "v_bare", "session": "s_bare",
                         "status": "active", "awaiting": None, "transcript": []}
            else:
                reply = {"type": "answered", "question": frame.get("question"), "text": "Yes"}
            await websocket.send_text(json.dumps(reply, separators=(",", ":")))
            step += 1
            await websocket.send_text(question_frame(step))
    except WebSocketDisconnect:
        return


async def healthz(request: Request) -> Response:
    """Ready probe for the bench runner."""
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[WebSocketRoute("/ws", chat), Route("/healthz", healthz)])


def main() -> None:
    """Serve the bare endpoint with ``chinwag serve``'s uvicorn settings."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    # Same settings as chinwag.cli.serve: the difference measured is chinwag's, not uvicorn's.
    uvicorn.run(app, host=args.host, port=args.port, ws_max_size=1 << 20, ws_per_message_deflate=False,
                log_level="info", proxy_headers=True)


if __name__ == "__main__":
    main()

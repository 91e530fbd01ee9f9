"""``/widget.js``: the widget script, gzip-compressed when the browser accepts it, with an ETag.

The script is read and compressed once per content (a changed file, as in development, is
read again), and its ETag is a hash of what is sent: a browser revalidates with
``If-None-Match`` and gets ``304 Not Modified`` while the script is unchanged. It is sent without
its comments and indentation (``lean_script``): the source stays documented, visitors download
only the code, and no build step is needed.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path

import attrs
from starlette.requests import Request
from starlette.responses import Response

CACHE_CONTROL = "public, max-age=300"  # short: an upgrade reaches visitors within minutes


@attrs.frozen
class Asset:
    """One version of a static file: its bytes, their gzip form and an ETag."""

    raw: bytes
    gzipped: bytes
    etag: str
    mtime_ns: int


class CompressedAsset:
    """A static file served with gzip and ETag revalidation."""

    def __init__(self, path: Path, media_type: str, headers: dict[str, str],
                 transform: Callable[[bytes], bytes] | None = None) -> None:
        self.path = path
        self.media_type = media_type
        self.headers = headers
        self.transform = transform
        self._current: Asset | None = None

    def current(self) -> Asset:
        """The file as sent now (read again only when its modification time changed)."""
        mtime_ns = self.path.stat().st_mtime_ns
        if self._current is None or self._current.mtime_ns != mtime_ns:
            raw = self.path.read_bytes()
            if self.transform is not None:
                raw = self.transform(raw)
            etag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
            self._current = Asset(raw, gzip.compress(raw, compresslevel=9, mtime=0), etag, mtime_ns)
        return self._current

    async def respond(self, request: Request) -> Response:
        """Serve the file: 304 for a matching ``If-None-Match``, gzip when accepted."""
        asset = self.current()
        headers = {**self.headers, "Cache-Control": CACHE_CONTROL, "ETag": asset.etag, "Vary": "Accept-Encoding"}
        if asset.etag in _etags(request.headers.get("if-none-match", "")):
            return Response(status_code=304, headers=headers)
        body = asset.raw
        if _accepts_gzip(request.headers.get("accept-encoding", "")):
            body, headers["Content-Encoding"] = asset.gzipped, "gzip"
        return Response(body, headers=headers, media_type=self.media_type)


def _etags(header: str) -> set[str]:
    """The entity tags of an ``If-None-Match`` header (weak ones compared by their value)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _accepts_gzip(header: str) -> bool:
    """Whether ``Accept-Encoding`` accepts gzip (a ``q=0`` refuses it)."""
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
            try:
                return float(quality) > 0
            except ValueError:
                return False
    return False


def lean_script(source: bytes) -> bytes:
    """A JavaScript file without its comment lines, indentation and blank lines.

    Only a line that is nothing but a comment goes (``// ...``, or a ``/* ... */`` block that
    begins a line; code after a block's end on its last line stays), so code, strings and
    regular expressions are never touched, and every line break between statements is kept.
    The widget's source never begins a line inside a string, so no string can look like a comment.
    """
    kept: list[str] = []
    in_block = False
    for line in source.decode("utf-8").splitlines():
        text = line.strip()
        if in_block:
            if "*/" not in text:
                continue
            in_block, text = False, text.split("*/", 1)[1].strip()
        elif text.startswith("/*"):
            closed = text.find("*/", 2)
            if closed < 0:
                in_block = True
                continue
            text = text[closed + 2:].strip()
        elif text.startswith("//"):
            continue
        if text:
            kept.append(text)
    return ("\n".join(kept) + "\n").encode("utf-8")

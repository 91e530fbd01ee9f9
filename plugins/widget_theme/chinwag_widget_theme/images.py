"""The pixel size of an avatar image, read from its header; no imaging library needed.

Each reader gets the file's bytes and returns ``(width, height)``, or None when the bytes are
not that format. Only the header is read: the browser decodes the image, this just checks it.
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable

Size = tuple[float, float]

# Extension -> (MIME type, format name as people know it).
IMAGE_TYPES: dict[str, tuple[str, str]] = {
    ".png": ("image/png", "PNG"),
    ".jpg": ("image/jpeg", "JPEG"),
    ".jpeg": ("image/jpeg", "JPEG"),
    ".gif": ("image/gif", "GIF"),
    ".webp": ("image/webp", "WebP"),
    ".svg": ("image/svg+xml", "SVG"),
}


def png_size(data: bytes) -> Size | None:
    """PNG: the IHDR chunk comes first and holds width and height."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def gif_size(data: bytes) -> Size | None:
    """GIF: the logical screen size follows the signature."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 10:
        return None
    return struct.unpack("<HH", data[6:10])


# Start-of-frame markers (baseline, progressive, lossless…); not DHT (C4), JPG (C8) or DAC (CC).
_JPEG_FRAME_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> Size | None:
    """JPEG: walk the marker segments to the first start-of-frame, which holds the size."""
    if data[:2] != b"\xff\xd8":
        return None
    position = 2
    while position + 9 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _JPEG_FRAME_MARKERS:
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        position += 2 + length
    return None


def webp_size(data: bytes) -> Size | None:
    """WebP: lossy (VP8), lossless (VP8L) and extended (VP8X) files keep the size differently."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


_SVG_LENGTH = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(px)?\s*$")


def svg_size(data: bytes) -> Size | None:
    """SVG: ``width``/``height`` in pixels when given, else the ``viewBox`` (which sets the shape)."""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return None
    if root.tag not in ("svg", "{http://www.w3.org/2000/svg}svg"):
        return None
    width, height = (_SVG_LENGTH.match(root.get(name, "")) for name in ("width", "height"))
    if width and height:
        return float(width.group(1)), float(height.group(1))
    view_box = (root.get("viewBox") or "").replace(",", " ").split()
    if len(view_box) == 4:
        try:
            return float(view_box[2]), float(view_box[3])
        except ValueError:
            return None
    return None


SIZE_READERS: dict[str, Callable[[bytes], Size | None]] = {
    "image/png": png_size,
    "image/jpeg": jpeg_size,
    "image/gif": gif_size,
    "image/webp": webp_size,
    "image/svg+xml": svg_size,
}


def image_size(data: bytes, media_type: str) -> Size | None:
    """The size of ``data`` read as ``media_type``, or None when it is not such an image."""
    try:
        return SIZE_READERS[media_type](data)
    except (struct.error, IndexError, ValueError):
        return None

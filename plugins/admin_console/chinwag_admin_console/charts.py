"""Charts as server-side SVG drawn by pygal (a maintained charting library, no browser code).

The SVG is served as an image of its own (``<img src=...svg>``), so the pages keep a strict
Content-Security-Policy: pygal's styles live inside the image, where no page script or style
rule can reach, and its optional JavaScript (tooltips) is left out. Every chart has the same
figures in a table next to it, for screen readers and for copying.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import functools
from typing import Any

from starlette.responses import Response

# pygal is imported when a chart is first drawn, not when the server starts.
STYLE_SETTINGS = dict(
    background="#ffffff", plot_background="#ffffff", foreground="#1b1f24", foreground_strong="#1b1f24",
    foreground_subtle="#5a6570", font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=13, major_label_font_size=13, legend_font_size=14, value_font_size=13, title_font_size=16,
    colors=("#0b5cad", "#e07b00", "#1a8a4a", "#a4262c", "#6b3fa0", "#00838f", "#795548"),
)


@functools.cache
def _style() -> Any:
    from pygal.style import Style

    return Style(**STYLE_SETTINGS)
# The image's own policy: its inline styles only; nothing it could load or run.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
LABELS = {"triggered": "Triggered", "engaged": "Engaged", "completed": "Completed", "lead_captured": "Leads",
          "meeting_booked": "Meetings", "goal_reached": "Goals"}


def svg_response(svg: bytes) -> Response:
    """An SVG image answer, never cached (it holds this moment's figures)."""
    return Response(svg, media_type="image/svg+xml",
                    headers={"Content-Security-Policy": SVG_CSP, "Cache-Control": "no-store"})


def _render(chart: Any) -> bytes:
    """The chart's SVG without pygal's inline configuration script (an image runs no script anyway;
    this keeps the file to drawing and styles)."""
    from pygal.etree import etree

    tree = chart.render_tree()
    for parent in list(tree.iter()):
        for child in list(parent):
            if str(child.tag).rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    body = etree.tostring(tree, encoding="utf-8")
    return body if body.startswith(b"<?xml") else b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def _config(chart: Any, width: int, height: int) -> Any:
    chart.config.js = []  # no script: tooltips need it, the table beside the chart has the numbers
    chart.config.width, chart.config.height = width, height
    chart.config.legend_at_bottom = True
    chart.config.truncate_legend = -1
    chart.config.truncate_label = -1
    chart.config.print_values = False
    return chart


def series_chart(title: str, labels: Sequence[str], lines: Mapping[str, Sequence[int]], width: int = 960,
                 height: int = 360) -> bytes:
    """A line per measure over the buckets ``labels`` (days or weeks)."""
    import pygal

    chart = _config(pygal.Line(style=_style(), title=title, show_minor_x_labels=False, x_label_rotation=0,
                               dots_size=2.5, include_x_axis=True, min_scale=1, max_scale=6), width, height)
    chart.x_labels = list(labels)
    chart.x_labels_major_every = max(1, len(labels) // 8)
    for name, values in lines.items():
        chart.add(LABELS.get(name, name), list(values))
    return _render(chart)


def funnel_chart(title: str, steps: Sequence[tuple[str, int]], width: int = 960, height: int = 360) -> bytes:
    """A funnel: how many sessions reached each step, widest first, one bar per step."""
    import pygal

    chart = _config(pygal.HorizontalBar(style=_style(), title=title, show_legend=False, print_values=True), width,
                    max(160, 60 + 42 * len(steps)))
    chart.config.print_values = True
    chart.x_labels = [label for label, _ in reversed(steps)]
    chart.add("Reached", [count for _, count in reversed(steps)])
    return _render(chart)

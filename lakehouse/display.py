"""Output shared by the command line, the jobs that print and the HTML reports: aligned text tables,
durations, HTML table cells and the reports' style sheet."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

HTML_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}figure{margin:0}figcaption{font-size:.9rem;color:#555}
svg text{font-size:10px;fill:#444}.best{font-weight:bold}
"""


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of cells as aligned columns; the first row is the header, underlined."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths).rstrip())
    return "\n".join(lines)


def duration(seconds: float | None) -> str:
    """``42.1 s``, ``3 min 05 s``, ``1 h 02 min``; empty for None."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def html_cell(value: Any) -> str:
    """A value as escaped HTML: whole floats with thousands separators, others to 4 decimals."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1:
            return f"{int(value):,}"
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:,.0f}"
    return html.escape(str(value))


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], best: int | None = None) -> str:
    """An HTML table; row ``best`` (0-based) is bold."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        f"<tr{' class=best' if index == best else ''}>"
        + "".join(f"<td>{html_cell(v)}</td>" for v in row)
        + "</tr>"
        for index, row in enumerate(rows)
    )
    return f"<table><tr>{head}</tr>{body}</table>"

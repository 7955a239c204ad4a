"""The report of one pipeline run: one self-contained HTML file (inline SVG, no scripts, no network).

It shows a timeline of the run's tasks, the rows each task read and wrote per table, the data
quality results its jobs recorded, the metrics they reported (models, retrieval), the files they
wrote (training and quality reports), and the lineage of tables: which job read and wrote which
table, drawn as a graph. :func:`gather` collects the facts with Spark, :func:`render` is pure.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.config.model import LakehouseConfig
from lakehouse.display import HTML_STYLE, duration, html_table
from lakehouse.io import files
from lakehouse.io.delta_store import DeltaStore
from lakehouse.pipelines.records import PipelineRun
from lakehouse.quality.records import completed_runs
from lakehouse.runs.runner import read_job_runs
from lakehouse.storage.layout import StorageLayout

QUALITY_TABLE = "ops.quality_results"
STATUS_COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "skipped": "#9e9e9e",
    "upstream_failed": "#ef6c00",
    "pending": "#bdbdbd",
    "running": "#1565c0",
}
LAYER_COLOURS = {"bronze": "#d7a86e", "silver": "#b0bec5", "gold": "#ffd54f", "quarantine": "#ef9a9a"}


def report_location(layout: StorageLayout, run: PipelineRun) -> str:
    """Where a run's report is written: ``<files>/reports/pipelines/<pipeline>/<run id>.html``."""
    return layout.files_location("reports", "pipelines", run.pipeline, f"{run.pipeline_run_id}.html")


def write_report(
    spark: SparkSession, config: LakehouseConfig, run: PipelineRun, path: str | Path | None = None
) -> Path | str:
    """Gather the run's facts and write its report; returns the file written."""
    layout = StorageLayout.from_config(config)
    page = render(gather(spark, config, run))
    target = str(path) if path is not None else report_location(layout, run)
    return files.write_text(spark, target, page)


def gather(spark: SparkSession, config: LakehouseConfig, run: PipelineRun) -> dict[str, Any]:
    """The facts of a run's report: its tasks, their job runs, reads and writes, quality, metrics."""
    store = DeltaStore(spark, StorageLayout.from_config(config))
    records = read_job_runs(spark, config, run.job_run_ids())
    by_task: dict[str, Any] = {}
    for task in run.tasks:
        final = [records[i] for i in task.job_run_ids if i in records]
        by_task[task.label] = final[-1] if final else None
    reads = sorted(
        {
            (table, version)
            for record in by_task.values()
            if record
            for table, version in record.tables_read.items()
        }
    )
    rows_at = {}
    for table, version in reads:
        try:
            rows_at[(table, version)] = store.read(table, version=version if version >= 0 else None).count()
        except Exception:  # vacuumed or dropped since: the report still shows the read
            rows_at[(table, version)] = None
    quality: list[dict[str, Any]] = []
    ids = list(records)
    if ids and store.exists(QUALITY_TABLE):
        columns = [
            "run_id",
            "job",
            "table",
            "expectation",
            "severity",
            "success",
            "element_count",
            "unexpected_count",
        ]
        frame = completed_runs(store.read(QUALITY_TABLE)).where(F.col("run_id").isin(ids)).select(*columns)
        quality = [row.asDict() for row in frame.orderBy("table", "expectation").collect()]
    return {"run": run, "job_runs": by_task, "rows_at": rows_at, "quality": quality}


def render(facts: Mapping[str, Any]) -> str:
    """The report's HTML page from :func:`gather`'s facts."""
    run: PipelineRun = facts["run"]
    records: Mapping[str, Any] = facts["job_runs"]
    title = f"Pipeline {run.pipeline}: run {run.pipeline_run_id[:8]} ({run.status})"
    overview = [
        ("run", run.pipeline_run_id),
        ("pipeline", run.pipeline),
        ("environment", run.env),
        ("status", run.status),
        ("mode", run.mode),
        ("logical dates", ", ".join(run.logical_dates)),
        ("started (UTC)", _time(run.started_at)),
        ("duration", duration(run.duration_seconds)),
        ("options", ", ".join(f"{k}={v}" for k, v in run.options.items()) or "none"),
        ("resumed from", run.resumed_from or "-"),
        ("host", run.host),
        ("lakehouse", run.lakehouse_version),
    ]
    body = [f"<h1>{html.escape(title)}</h1>", html_table(["", ""], overview)]
    if run.error:
        body.append(f"<p style='color:#c62828'>{html.escape(run.error)}</p>")
    body += ["<h2>Timeline</h2>", timeline(run), "<h2>Tasks</h2>", _tasks_table(run)]
    body += ["<h2>Rows in and out per table</h2>", _tables_section(records, facts["rows_at"])]
    body += ["<h2>Data quality</h2>", _quality_section(facts["quality"], run)]
    body += ["<h2>Metrics</h2>", _metrics_section(records)]
    body += ["<h2>Lineage</h2>", lineage_graph(lineage_edges(records))]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{HTML_STYLE}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )


def timeline(run: PipelineRun, width: int = 900, bar: int = 18) -> str:
    """A Gantt chart of the run's tasks: one bar per task from its start to its end."""
    timed = [task for task in run.tasks if task.started_at is not None]
    if not timed:
        return "<p>No task ran.</p>"
    origin = run.started_at
    end = max((task.ended_at or task.started_at) for task in timed)
    total = max((end - origin).total_seconds(), 1.0)
    label_width, pad = 220, 30
    scale = (width - label_width - pad) / total
    height = len(timed) * (bar + 6) + 30
    parts = [f"<svg width='{width}' height='{height}' role='img' aria-label='timeline'>"]
    for index, task in enumerate(timed):
        y = 10 + index * (bar + 6)
        start = (task.started_at - origin).total_seconds()
        length = max(((task.ended_at or task.started_at) - task.started_at).total_seconds(), 0.5)
        colour = STATUS_COLOURS.get(task.status, "#777")
        parts.append(f"<text x='0' y='{y + bar - 5}'>{html.escape(task.label)}</text>")
        parts.append(
            f"<rect x='{label_width + start * scale:.1f}' y='{y}' width='{max(length * scale, 2):.1f}' "
            f"height='{bar}' fill='{colour}'><title>{html.escape(task.label)}: {task.status}, "
            f"{duration(task.duration_seconds)}</title></rect>"
        )
        parts.append(
            f"<text x='{label_width + (start + length) * scale + 4:.1f}' y='{y + bar - 5}'>"
            f"{duration(task.duration_seconds)}</text>"
        )
    axis_y = height - 8
    for tick in range(5):
        seconds = total * tick / 4
        parts.append(f"<text x='{label_width + seconds * scale:.1f}' y='{axis_y}'>{duration(seconds)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def lineage_edges(records: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(from, to, kind)`` edges: ``table -> task`` for each read, ``task -> table`` for each write.

    A job reading a table it also writes (a MERGE target) draws only the write; ``ops`` tables
    (the run records) are left out.
    """
    edges: list[tuple[str, str, str]] = []
    for task, record in records.items():
        if record is None:
            continue
        written = {table for table in record.rows_written if not table.startswith("ops.")}
        for table in sorted(record.tables_read):
            if table not in written and not table.startswith("ops."):
                edges.append((table, task, "read"))
        for table in sorted(written):
            edges.append((task, table, "write"))
    return edges


def lineage_graph(edges: Sequence[tuple[str, str, str]]) -> str:
    """The lineage as an SVG graph: columns by depth, tables as boxes, tasks as dark rounded boxes."""
    if not edges:
        return "<p>No table was read or written.</p>"
    nodes = list(dict.fromkeys(name for edge in edges for name in edge[:2]))
    tasks = {edge[1] for edge in edges if edge[2] == "read"} | {
        edge[0] for edge in edges if edge[2] == "write"
    }
    depth = dict.fromkeys(nodes, 0)
    for _ in range(len(nodes)):  # longest path; a cycle stops growing after len(nodes) rounds
        changed = False
        for source, target, _kind in edges:
            if depth[target] < depth[source] + 1 <= len(nodes):
                depth[target] = depth[source] + 1
                changed = True
        if not changed:
            break
    columns: dict[int, list[str]] = {}
    for node in nodes:
        columns.setdefault(depth[node], []).append(node)
    box_width, box_height, gap_x, gap_y = 170, 24, 50, 12
    place = {
        node: (20 + column * (box_width + gap_x), 20 + row * (box_height + gap_y))
        for column, members in columns.items()
        for row, node in enumerate(members)
    }
    width = 40 + (max(columns) + 1) * (box_width + gap_x)
    height = 40 + max(len(members) for members in columns.values()) * (box_height + gap_y)
    parts = [
        f"<svg width='{width}' height='{height}' role='img' aria-label='lineage'>",
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='6' markerHeight='6' "
        "orient='auto-start-reverse'><path d='M 0 0 L 10 5 L 0 10 z' fill='#777'/></marker></defs>",
    ]
    for source, target, kind in edges:
        (x1, y1), (x2, y2) = place[source], place[target]
        start = (x1 + box_width, y1 + box_height / 2)
        end = (x2, y2 + box_height / 2)
        middle = (start[0] + end[0]) / 2
        dash = " stroke-dasharray='4 3'" if kind == "read" else ""
        parts.append(
            f"<path d='M {start[0]:.0f} {start[1]:.0f} C {middle:.0f} {start[1]:.0f} "
            f"{middle:.0f} {end[1]:.0f} {end[0]:.0f} {end[1]:.0f}' fill='none' stroke='#777'{dash} "
            "marker-end='url(#arrow)'/>"
        )
    for node in nodes:
        x, y = place[node]
        if node in tasks:
            fill, text_fill, radius = "#37474f", "#fff", 8
        else:
            fill, text_fill, radius = LAYER_COLOURS.get(node.split(".", 1)[0], "#e0e0e0"), "#222", 0
        shown = node if len(node) <= 26 else node[:25] + "…"
        parts.append(
            f"<g><title>{html.escape(node)}</title><rect x='{x}' y='{y}' width='{box_width}' "
            f"height='{box_height}' rx='{radius}' fill='{fill}' stroke='#555'/>"
            f"<text x='{x + 6}' y='{y + 16}' style='fill:{text_fill};font-size:11px'>"
            f"{html.escape(shown)}</text></g>"
        )
    parts.append("</svg><p>Solid: the job wrote the table; dashed: it read it. Dark boxes are tasks.</p>")
    return "".join(parts)


def _tasks_table(run: PipelineRun) -> str:
    rows = []
    for task in run.tasks:
        written = sum(task.rows_written.values())
        rows.append(
            (
                task.task,
                task.logical_date or "",
                task.job,
                task.status,
                task.attempts,
                duration(task.duration_seconds),
                f"{written:,}",
                ", ".join(i[:8] for i in task.job_run_ids),
                (task.error or "")[:200],
            )
        )
    return html_table(
        ["task", "date", "job", "status", "attempts", "duration", "rows written", "job runs", "error"], rows
    )


def _tables_section(records: Mapping[str, Any], rows_at: Mapping[tuple, Any]) -> str:
    rows = []
    for label, record in records.items():
        if record is None:
            continue
        for table, version in sorted(record.tables_read.items()):
            count = rows_at.get((table, version))
            rows.append(
                (
                    table,
                    label,
                    "in",
                    f"v{version}" if version >= 0 else "latest",
                    "" if count is None else f"{count:,}",
                )
            )
        for table, written in sorted(record.rows_written.items()):
            rows.append((table, label, "out", "", f"{written:,}"))
    if not rows:
        return "<p>No table was read or written.</p>"
    rows.sort(key=lambda row: (row[0], row[2] != "out", row[1]))
    note = (
        "<p>in: the rows of the table version the task read; "
        "out: the rows the task wrote (inserted or updated).</p>"
    )
    return note + html_table(["table", "task", "direction", "version read", "rows"], rows)


def _quality_section(quality: Sequence[Mapping[str, Any]], run: PipelineRun) -> str:
    quarantined = {
        table: rows for table, rows in run.rows_written().items() if table.startswith("quarantine.")
    }
    parts = []
    if quarantined:
        parts.append(
            html_table(
                ["quarantine table", "rows quarantined"],
                [(t, f"{r:,}") for t, r in sorted(quarantined.items())],
            )
        )
    if not quality:
        parts.append("<p>No expectations were validated in this run.</p>")
        return "".join(parts)
    failed = sum(1 for row in quality if not row["success"])
    parts.append(f"<p>{len(quality)} expectation results, {failed} with failing rows.</p>")
    rows = [
        (
            row["table"],
            row["expectation"],
            row["severity"],
            "passed" if row["success"] else "failed",
            "" if row["element_count"] is None else f"{row['element_count']:,}",
            "" if row["unexpected_count"] is None else f"{row['unexpected_count']:,}",
        )
        for row in quality
    ]
    parts.append(
        html_table(["table", "expectation", "severity", "result", "rows checked", "rows failing"], rows)
    )
    return "".join(parts)


def _metrics_section(records: Mapping[str, Any]) -> str:
    metrics = [
        (label, name, float(value))
        for label, record in records.items()
        if record is not None
        for name, value in sorted(record.metrics.items())
    ]
    outputs = [
        (label, name, path)
        for label, record in records.items()
        if record is not None
        for name, path in sorted(record.outputs.items())
    ]
    parts = [
        html_table(["task", "metric", "value"], metrics) if metrics else "<p>No metrics were reported.</p>"
    ]
    if outputs:
        links = "".join(
            f"<li>{html.escape(label)}: {html.escape(name)}: "
            f"<a href='{html.escape(_href(path))}'>{html.escape(path)}</a></li>"
            for label, name, path in outputs
        )
        parts.append(f"<p>Files the jobs wrote:</p><ul>{links}</ul>")
    return "".join(parts)


def _href(path: str) -> str:
    return path if "://" in path else Path(path).resolve().as_uri()


def _time(value: dt.datetime | None) -> str:
    return "" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")

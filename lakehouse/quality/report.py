"""The data-quality report: one static, self-contained HTML file of ``ops.quality_results``.

The file has no external script, style sheet or font: its CSS is inline and its charts are SVG
drawn here, so it opens offline and can be attached or archived as is. It shows, per table:

- the latest validation (its latest ``refine`` validation): one row per expectation;
- a trend over the table's last runs: a chart of the worst failed-row percentage per run and a
  table of passed and failed expectations per run;
- and the quarantined rows still waiting for a replay, per table and reason.

Three kinds of code, kept apart: Spark transforms that reduce the results to the few rows the
report needs (:func:`latest_validations`, :func:`run_summaries`, :func:`pending_reasons`), pure
functions that turn plain Python rows into HTML (:func:`render_quality_report`,
:func:`trend_chart`), and :func:`write_quality_report`, which reads the tables and writes the file.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import LakehouseConfig
from lakehouse.errors import TableNotFoundError
from lakehouse.io import files
from lakehouse.io.delta_store import DeltaStore
from lakehouse.quality.records import QUARANTINED_AT, RESULTS_TABLE, completed_runs, pending_quarantine
from lakehouse.quality.rules import FAILED
from lakehouse.storage.catalog import list_tables
from lakehouse.storage.layout import StorageLayout

DEFAULT_RUNS = 30
QUARANTINE_LAYER = "quarantine"
REPORT_FILE = ("reports", "quality.html")
SEVERITIES = ("warn", "drop", "fail")
SAMPLE_TEXT_LIMIT = 80  # characters shown of one sample value

# --- Spark: reduce ops.quality_results to the rows the report shows -------------------------------


def latest_validations(results: DataFrame) -> DataFrame:
    """The rows of each table's latest ``refine`` validation (of a run that finished).

    Args:
        results: rows of ``ops.quality_results``.

    Returns:
        The same columns, one row per expectation per table: those of the validation with the
        table's greatest ``validated_at``, runs killed half way left out.
    """
    refine = completed_runs(results).where(F.col("phase") == "refine")
    latest = F.max("validated_at").over(Window.partitionBy("table"))
    return (
        refine.withColumn("__latest", latest)
        .where(F.col("validated_at") == F.col("__latest"))
        .drop("__latest")
    )


def run_summaries(results: DataFrame, runs: int = DEFAULT_RUNS) -> DataFrame:
    """Per table, a summary of each of its last ``runs`` ``refine`` validations (of runs that
    finished: those of runs killed half way are left out).

    Args:
        results: rows of ``ops.quality_results``.
        runs: how many runs to keep per table, the latest ones.

    Returns:
        One row per table per run: ``table``, ``run_id``, ``job``, ``validated_at`` (latest of
        the run), ``rows`` (rows validated), ``expectations`` and ``failed`` (expectation
        checks, all and failed), ``unexpected_rows`` (sum over the expectations, so a row
        failing two of them counts twice) and ``worst_percent`` (the highest unexpected
        percentage of any expectation, 0 when none failed a row).

    Raises:
        ValueError: ``runs`` is not a positive integer.
    """
    _check_runs(runs)
    per_run = (
        completed_runs(results)
        .where(F.col("phase") == "refine")
        .groupBy("table", "run_id")
        .agg(
            F.max("job").alias("job"),
            F.max("validated_at").alias("validated_at"),
            F.max("element_count").alias("rows"),
            F.count(F.lit(1)).alias("expectations"),
            F.count(F.when(~F.col("success"), True)).alias("failed"),
            F.sum(F.coalesce(F.col("unexpected_count"), F.lit(0))).alias("unexpected_rows"),
            F.max(F.coalesce(F.col("unexpected_percent"), F.lit(0.0))).alias("worst_percent"),
        )
    )
    newest_first = Window.partitionBy("table").orderBy(F.col("validated_at").desc(), F.col("run_id").desc())
    return (
        per_run.withColumn("__rank", F.row_number().over(newest_first))
        .where(F.col("__rank") <= runs)
        .drop("__rank")
    )


def pending_reasons(quarantine: DataFrame) -> DataFrame:
    """Rows of a quarantine table still waiting for a replay, counted per failed expectation.

    Args:
        quarantine: rows of a ``quarantine.<name>`` table.

    Returns:
        One row per expectation label: ``reason``, ``rows`` (pending rows that failed it; a row
        failing two expectations counts under both) and ``oldest`` (earliest ``_quarantined_at``).
    """
    return (
        pending_quarantine(quarantine)
        .select(F.explode(FAILED).alias("reason"), QUARANTINED_AT)
        .groupBy("reason")
        .agg(F.count(F.lit(1)).alias("rows"), F.min(QUARANTINED_AT).alias("oldest"))
    )


# --- pure: plain rows to HTML ---------------------------------------------------------------------


def render_quality_report(
    latest: Sequence[Mapping[str, Any]],
    trend: Sequence[Mapping[str, Any]],
    quarantine: Sequence[Mapping[str, Any]] | None = None,
    *,
    generated_at: dt.datetime | None = None,
    environment: str = "",
    root: str = "",
) -> str:
    """The report as one self-contained HTML document (pure: no Spark, no I/O).

    Every text that comes from the data or the configuration is HTML-escaped. Times without a
    time zone are taken as UTC.

    Args:
        latest: rows of ``ops.quality_results`` (mappings with its column names), those of each
            table's latest validation (:func:`latest_validations`).
        trend: one mapping per table per run, with the columns of :func:`run_summaries`.
        quarantine: one mapping per quarantine table: ``table``, ``pending`` (rows waiting for a
            replay), ``reasons`` (mapping of expectation label to pending rows) and optionally
            ``oldest`` (earliest quarantine time of a pending row); None when the lakehouse has no
            quarantine table (the section is left out).
        generated_at: when the report was made (default: now).
        environment: the configuration environment, e.g. ``local``.
        root: the lakehouse root.

    Returns:
        The HTML text.
    """
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    latest_by_table = _group(latest, "table")
    trend_by_table = _group(trend, "table")
    tables = sorted(set(latest_by_table) | set(trend_by_table))
    run_ids = {row["run_id"] for row in trend} | {row["run_id"] for row in latest}
    header = (
        f"<header><h1>Data quality</h1><dl>"
        f"<dt>Generated</dt><dd>{_time(generated_at)}</dd>"
        f"<dt>Environment</dt><dd>{_text(environment)}</dd>"
        f"<dt>Lakehouse</dt><dd><code>{_text(root)}</code></dd>"
        f"<dt>Runs covered</dt><dd>{len(run_ids)}</dd>"
        f"<dt>Tables</dt><dd>{len(tables)}</dd></dl></header>"
    )
    body = [header, _overview(tables, latest_by_table)]
    for table in tables:
        body.append(_table_section(table, latest_by_table.get(table, []), trend_by_table.get(table, [])))
    if quarantine is not None:
        body.append(_quarantine_section(quarantine))
    if not tables:
        body.append("<p class='empty'>No validation results yet.</p>")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Data quality report ({_text(environment)})</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _run_dot(run: Mapping[str, Any], x: float, y: float) -> str:
    """One run's dot of the trend chart, red when an expectation failed, with its tooltip."""
    state = "failed" if run["failed"] else "passed"
    tooltip = (
        f"{_time(run['validated_at'])} run {_text(run['run_id'])}: "
        f"{run['failed']} of {run['expectations']} expectations failed, "
        f"{_count(run['unexpected_rows'])} unexpected rows, worst {_percent(run['worst_percent'])}"
    )
    return f"<circle class='run {state}' cx='{x:.1f}' cy='{y:.1f}' r='4'><title>{tooltip}</title></circle>"


def trend_chart(runs: Sequence[Mapping[str, Any]], width: int = 640, height: int = 180) -> str:
    """An inline SVG line chart of the worst failed-row percentage per run (pure).

    Args:
        runs: one mapping per run (columns of :func:`run_summaries`), in any order.
        width, height: the drawing's size in pixels.

    Returns:
        An ``<svg>`` element with one ``<circle class="run ...">`` per run, placed by run time
        (x) and ``worst_percent`` (y), red when an expectation failed; each has a tooltip.
    """
    runs = sorted(runs, key=lambda run: _utc(run["validated_at"]))
    left, right, top, bottom = 48, 16, 12, 40
    plot_width, plot_height = width - left - right, height - top - bottom
    top_value = _axis_top(max((run["worst_percent"] or 0.0 for run in runs), default=0.0))
    times = [_utc(run["validated_at"]).timestamp() for run in runs]
    span = (times[-1] - times[0]) if times else 0.0

    def x(index: int) -> float:
        if span == 0:
            return left + plot_width / 2
        return left + plot_width * (times[index] - times[0]) / span

    def y(value: float) -> float:
        return top + plot_height * (1 - value / top_value)

    parts = [
        f"<svg class='chart' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='worst failed-row percentage per run'>"
    ]
    for fraction in (0.0, 0.5, 1.0):
        level = y(top_value * fraction)
        parts.append(
            f"<line class='grid' x1='{left}' y1='{level:.1f}' x2='{width - right}' y2='{level:.1f}'/>"
            f"<text class='axis' x='{left - 6}' y='{level + 4:.1f}' text-anchor='end'>"
            f"{_number(top_value * fraction)}%</text>"
        )
    if len(runs) > 1:
        points = " ".join(f"{x(i):.1f},{y(run['worst_percent'] or 0.0):.1f}" for i, run in enumerate(runs))
        parts.append(f"<polyline class='line' points='{points}'/>")
    parts += [_run_dot(run, x(i), y(run["worst_percent"] or 0.0)) for i, run in enumerate(runs)]
    labelled = sorted({0, len(runs) - 1}) if runs else []
    for i in labelled:
        anchor = "middle" if span == 0 else ("start" if i == 0 else "end")
        parts.append(
            f"<text class='axis' x='{x(i):.1f}' y='{height - bottom + 18}' text-anchor='{anchor}'>"
            f"{_utc(runs[i]['validated_at']):%Y-%m-%d %H:%M}</text>"
        )
    parts.append(
        f"<text class='axis' x='{left + plot_width / 2:.1f}' y='{height - 6}' text-anchor='middle'>"
        "run time (UTC)</text></svg>"
    )
    return "".join(parts)


# --- I/O: read the tables, write the file ---------------------------------------------------------


def write_quality_report(
    spark: SparkSession,
    config: LakehouseConfig,
    path: str | Path | None = None,
    runs: int = DEFAULT_RUNS,
) -> Path | str:
    """Read ``ops.quality_results`` (and the quarantine tables) and write the HTML report.

    Only the report's rows are collected: each table's latest validation, one summary row per
    table per run, and the pending quarantine counts.

    Args:
        spark: the session.
        config: the loaded environment; its lakehouse is the one reported on.
        path: a local file to write; default ``<lakehouse root>/files/reports/quality.html``.
        runs: how many of each table's latest runs the trend shows.

    Returns:
        The file written: a local ``Path``, or for a remote lakehouse root (OneLake, ADLS) and
        no ``path`` its ``abfss://`` location as a string.

    Raises:
        TableNotFoundError: ``ops.quality_results`` does not exist yet.
        ValueError: ``runs`` is not a positive integer.
    """
    _check_runs(runs)
    layout = StorageLayout.from_config(config)
    store = DeltaStore(spark, layout)
    if not store.exists(RESULTS_TABLE):
        raise TableNotFoundError(
            f"table {RESULTS_TABLE} does not exist at {layout.table(RESULTS_TABLE).location}: no "
            "validation has been recorded yet; run silver_refine first (`lakehouse run silver_refine`)"
        )
    results = store.read(RESULTS_TABLE)
    latest = _collect(latest_validations(results))
    trend = _collect(run_summaries(results, runs))
    quarantine = _pending_quarantine(spark, layout, store)
    document = render_quality_report(latest, trend, quarantine, environment=config.env, root=layout.root)
    if path is not None:
        return files.write_text(spark, str(Path(path).expanduser().resolve()), document)
    return files.write_text(spark, layout.files_location(*REPORT_FILE), document)


def _pending_quarantine(
    spark: SparkSession, layout: StorageLayout, store: DeltaStore
) -> list[dict[str, Any]] | None:
    """Pending rows per quarantine table and reason; None when there is no quarantine table."""
    if QUARANTINE_LAYER not in layout.layers:
        return None
    tables = list_tables(spark, layout, [QUARANTINE_LAYER])
    if not tables:
        return None
    summaries = []
    for location in tables:
        rows = store.read(location.table)
        reasons = _collect(pending_reasons(rows))
        summaries.append(
            {
                "table": str(location.table),
                "pending": pending_quarantine(rows).count(),
                "reasons": {reason["reason"]: reason["rows"] for reason in reasons},
                "oldest": min(
                    (reason["oldest"] for reason in reasons if reason["oldest"] is not None), default=None
                ),
            }
        )
    return summaries


def _collect(frame: DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts, timestamps as UTC-aware datetimes.

    PySpark hands timestamps back in the driver's local time zone; going through epoch seconds
    keeps them exact whatever that zone is.
    """
    stamps = [f.name for f in frame.schema.fields if isinstance(f.dataType, T.TimestampType)]
    columns = [
        F.col(f"`{c}`").cast("double").alias(c) if c in stamps else F.col(f"`{c}`") for c in frame.columns
    ]
    rows = []
    for row in frame.select(*columns).collect():
        values = row.asDict()
        for column in stamps:
            if values[column] is not None:
                values[column] = dt.datetime.fromtimestamp(values[column], dt.UTC)
        rows.append(values)
    return rows


def _check_runs(runs: int) -> None:
    if isinstance(runs, bool) or not isinstance(runs, int):
        raise TypeError(f"runs must be an int, got {type(runs).__name__}")
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")


# --- HTML pieces ----------------------------------------------------------------------------------


def _overview(tables: list[str], latest_by_table: Mapping[str, list[Mapping[str, Any]]]) -> str:
    if not tables:
        return ""
    rows = []
    for table in tables:
        latest = latest_by_table.get(table, [])
        failed = sum(1 for row in latest if not row["success"])
        worst = _worst_severity(row for row in latest if not row["success"])
        rows.append(
            f"<tr><td><a href='#{_anchor(table)}'>{_text(table)}</a></td>"
            f"<td>{_badge(failed == 0)}</td><td class='num'>{len(latest) - failed}</td>"
            f"<td class='num'>{failed}</td><td>{_severity(worst) if worst else ''}</td>"
            f"<td>{_time(latest[0]['validated_at']) if latest else ''}</td></tr>"
        )
    return (
        "<section><h2>Latest validation per table</h2><table><thead><tr><th>Table</th><th>Result</th>"
        "<th>Passed</th><th>Failed</th><th>Worst failed severity</th><th>Validated</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _table_section(table: str, latest: list[Mapping[str, Any]], trend: list[Mapping[str, Any]]) -> str:
    parts = [f"<section id='{_anchor(table)}'><h2>{_text(table)}</h2>"]
    if latest:
        first = latest[0]
        parts.append(
            f"<p class='meta'>Latest validation {_time(first['validated_at'])}, run "
            f"<code>{_text(first['run_id'])}</code> of job <code>{_text(first['job'])}</code></p>"
        )
        expectations = sorted(latest, key=lambda row: (bool(row["success"]), str(row["expectation"])))
        parts.append(
            "<table><thead><tr><th>Expectation</th><th>Kind</th><th>Severity</th><th>Result</th>"
            "<th>Rows</th><th>Unexpected</th><th>%</th><th>Sample values</th><th>Observed</th></tr>"
            f"</thead><tbody>{''.join(_expectation_row(row) for row in expectations)}</tbody></table>"
        )
    if trend:
        newest_first = sorted(trend, key=lambda run: _utc(run["validated_at"]), reverse=True)
        parts.append(
            f"<h3>Last {len(trend)} run{'s' if len(trend) != 1 else ''}: worst failed-row percentage</h3>"
            f"{trend_chart(trend)}"
            "<table class='runs'><thead><tr><th>Run time</th><th>Run</th><th>Job</th><th>Rows</th>"
            "<th>Passed</th><th>Failed</th><th>Unexpected rows</th><th>Worst %</th></tr></thead>"
            f"<tbody>{''.join(_run_row(run) for run in newest_first)}</tbody></table>"
        )
    parts.append("</section>")
    return "".join(parts)


def _expectation_row(row: Mapping[str, Any]) -> str:
    sample = "".join(
        f"<code class='sample'>{_text(_shorten(str(value)))}</code>" for value in row.get("sample") or []
    )
    return (
        f"<tr class='{'passed' if row['success'] else 'failed'}'><td>{_text(row['expectation'])}</td>"
        f"<td>{_text(row['kind'])}</td><td>{_severity(row['severity'])}</td><td>{_badge(row['success'])}</td>"
        f"<td class='num'>{_count(row.get('element_count'))}</td>"
        f"<td class='num'>{_count(row.get('unexpected_count'))}</td>"
        f"<td class='num'>{_percent(row.get('unexpected_percent'))}</td>"
        f"<td>{sample}</td><td class='observed'>{_text(row.get('observed'))}</td></tr>"
    )


def _run_row(run: Mapping[str, Any]) -> str:
    return (
        f"<tr><td>{_time(run['validated_at'])}</td><td><code>{_text(run['run_id'])}</code></td>"
        f"<td>{_text(run.get('job'))}</td><td class='num'>{_count(run.get('rows'))}</td>"
        f"<td class='num'>{run['expectations'] - run['failed']}</td>"
        f"<td class='num{' bad' if run['failed'] else ''}'>{run['failed']}</td>"
        f"<td class='num'>{_count(run.get('unexpected_rows'))}</td>"
        f"<td class='num'>{_percent(run.get('worst_percent'))}</td></tr>"
    )


def _quarantine_section(quarantine: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for entry in sorted(quarantine, key=lambda entry: str(entry["table"])):
        reasons = sorted((entry.get("reasons") or {}).items(), key=lambda item: (-item[1], str(item[0])))
        listed = "".join(f"<li>{_text(label)}: {_count(count)}</li>" for label, count in reasons)
        rows.append(
            f"<tr><td>{_text(entry['table'])}</td><td class='num{' bad' if entry['pending'] else ''}'>"
            f"{_count(entry['pending'])}</td><td>{_time(entry.get('oldest'))}</td><td><ul>{listed}</ul></td></tr>"
        )
    total = sum(entry["pending"] for entry in quarantine)
    summary = f"{_count(total)} rows wait for a replay." if total else "No rows wait for a replay."
    return (
        f"<section id='quarantine'><h2>Pending quarantine</h2><p class='meta'>{summary}</p>"
        "<table><thead><tr><th>Table</th><th>Pending rows</th><th>Oldest pending since</th>"
        "<th>Rows per failed expectation</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _group(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row[key]), []).append(row)
    return groups


def _worst_severity(rows: Iterable[Mapping[str, Any]]) -> str | None:
    ranks = {severity: rank for rank, severity in enumerate(SEVERITIES)}
    found = [str(row["severity"]) for row in rows]
    return max(found, key=lambda severity: ranks.get(severity, -1), default=None)


def _axis_top(value: float) -> float:
    """The chart's top: the first of 1, 2, 5, 10, 20, 50, 100 (%) at or above ``value``."""
    for top in (1.0, 2.0, 5.0, 10.0, 20.0, 50.0):
        if value <= top:
            return top
    return max(100.0, value)


def _anchor(table: str) -> str:
    return "table-" + "".join(character if character.isalnum() else "-" for character in table)


def _badge(success: bool) -> str:
    return "<span class='badge pass'>pass</span>" if success else "<span class='badge fail'>fail</span>"


def _severity(severity: str) -> str:
    kind = severity if severity in SEVERITIES else "other"
    return f"<span class='severity {kind}'>{_text(severity)}</span>"


def _text(value: Any) -> str:
    return "" if value is None else html.escape(str(value))


def _shorten(text: str) -> str:
    return text if len(text) <= SAMPLE_TEXT_LIMIT else text[: SAMPLE_TEXT_LIMIT - 1] + "…"


def _count(value: int | None) -> str:
    return "&ndash;" if value is None else f"{int(value):,}"


def _percent(value: float | None) -> str:
    return "&ndash;" if value is None else f"{_number(float(value))}%"


def _number(value: float) -> str:
    return f"{value:.3g}"


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _time(value: dt.datetime | None) -> str:
    return "" if value is None else f"{_utc(value):%Y-%m-%d %H:%M:%S} UTC"


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px auto;max-width:1200px;
padding:0 16px;color:#1f2328;background:#fff;font-size:14px}
h1{margin:0 0 8px}h2{margin:32px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 4px;color:#57606a}
header dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0}
header dt{color:#57606a}header dd{margin:0}
table{border-collapse:collapse;width:100%;margin:8px 0}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.bad{color:#cf222e;font-weight:600}td.observed{max-width:320px;word-break:break-word}
tr.failed td:first-child{border-left:3px solid #cf222e}
code{font-family:ui-monospace,Consolas,monospace;font-size:12px}
code.sample{display:inline-block;background:#f6f8fa;border:1px solid #d0d7de;border-radius:4px;
padding:0 4px;margin:1px 2px;word-break:break-all}
ul{margin:0;padding-left:16px}.meta{color:#57606a;margin:4px 0}.empty{color:#57606a}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-weight:600;font-size:12px;color:#fff}
.badge.pass{background:#1a7f37}.badge.fail{background:#cf222e}
.severity{font-size:12px;border-radius:4px;padding:0 4px;border:1px solid #d0d7de}
.severity.fail{color:#cf222e;border-color:#cf222e}.severity.drop{color:#9a6700;border-color:#9a6700}
svg.chart{display:block;max-width:100%;height:auto}
svg .grid{stroke:#d0d7de;stroke-width:1}svg .axis{fill:#57606a;font-size:11px}
svg .line{fill:none;stroke:#0969da;stroke-width:2}
svg .run.passed{fill:#1a7f37}svg .run.failed{fill:#cf222e}
"""

"""The text a pipeline run ends with: stage timings, tables written, quality, metrics, the report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import SparkSession

from lakehouse.config.model import LakehouseConfig
from lakehouse.display import duration, text_table
from lakehouse.io.delta_store import DeltaStore
from lakehouse.pipelines.records import PipelineRun
from lakehouse.storage.layout import StorageLayout


def table_sizes(
    spark: SparkSession, config: LakehouseConfig, tables: list[str]
) -> dict[str, tuple[int, int]]:
    """Rows and latest version of each table (Delta answers the count from its log's statistics)."""
    store = DeltaStore(spark, StorageLayout.from_config(config))
    sizes = {}
    for table in tables:
        if store.exists(table):
            sizes[table] = (store.read(table).count(), store.version(table))
    return sizes


def summary(run: PipelineRun, facts: Mapping[str, Any] | None, sizes: Mapping[str, tuple[int, int]]) -> str:
    """The end-of-run text; ``facts`` are the report's (:func:`lakehouse.pipelines.report.gather`)."""
    lines = [
        f"\npipeline {run.pipeline} {run.status.upper()} in {duration(run.duration_seconds)} "
        f"(run {run.pipeline_run_id})"
    ]
    if run.error:
        lines.append(f"  {run.error}")
    rows = task_rows(run)
    timed = sum(task.duration_seconds or 0 for task in run.tasks)
    rows.append(("total", "", "", "", duration(timed), f"{sum(run.rows_written().values()):,}"))
    lines += ["\nstage timings", text_table(rows)]
    if sizes:
        written = run.rows_written()
        table_rows = [("TABLE", "ROWS WRITTEN", "ROWS NOW", "VERSION")]
        table_rows += [
            (table, f"{written.get(table, 0):,}", f"{rows_now:,}", str(version))
            for table, (rows_now, version) in sorted(sizes.items())
        ]
        lines += ["\ntables", text_table(table_rows)]
    if facts is not None:
        quality = facts["quality"]
        failed = [row for row in quality if not row["success"]]
        quarantined = {t: r for t, r in run.rows_written().items() if t.startswith("quarantine.")}
        text = f"\nquality: {len(quality)} expectation results, {len(failed)} with failing rows"
        if quarantined:
            text += "; quarantined " + ", ".join(f"{t} {r:,}" for t, r in sorted(quarantined.items()))
        lines.append(text)
        for row in failed[:10]:
            lines.append(
                f"  {row['table']}: {row['expectation']} ({row['severity']}): "
                f"{row['unexpected_count'] or 0:,} of {row['element_count'] or 0:,} rows"
            )
        metrics = [
            (label, name, value)
            for label, record in facts["job_runs"].items()
            if record is not None
            for name, value in sorted(record.metrics.items())
        ]
        if metrics:
            lines += [
                "\nmetrics",
                text_table([("STAGE", "METRIC", "VALUE")] + [(t, m, f"{v:.4f}") for t, m, v in metrics]),
            ]
    if run.report:
        lines.append(f"\nreport: {run.report}")
    return "\n".join(lines)


def task_rows(run: PipelineRun, details: bool = False) -> list[tuple[str, ...]]:
    """A header and one row per task: status, attempts, duration, rows written; with ``details``
    also the job run ids and the error."""
    header = ("STAGE", "DATE", "STATUS", "ATTEMPTS", "DURATION", "ROWS WRITTEN")
    rows = [(*header, "JOB RUNS", "ERROR") if details else header]
    for task in run.tasks:
        row = (
            task.task,
            task.logical_date or "",
            task.status,
            str(task.attempts),
            duration(task.duration_seconds),
            f"{sum(task.rows_written.values()):,}",
        )
        extra = (",".join(i[:8] for i in task.job_run_ids), " ".join((task.error or "").split())[:80])
        rows.append((*row, *extra) if details else row)
    return rows

"""What ``lakehouse runs`` and ``lakehouse report`` show: recent runs, a run's tasks, live progress.

A running pipeline is found through its lock, whose heartbeat carries the task it is at.
"""

from __future__ import annotations

import datetime as dt
import json

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.config.model import LakehouseConfig
from lakehouse.display import duration, text_table
from lakehouse.errors import PipelineError
from lakehouse.io import files
from lakehouse.io.delta_store import DeltaStore
from lakehouse.pipelines.lock import LockOwner
from lakehouse.pipelines.records import RUNNING, PipelineRun, PipelineRunStore
from lakehouse.pipelines.summary import task_rows
from lakehouse.runs.records import JOB_RUNS_TABLE
from lakehouse.storage.layout import StorageLayout


def running_locks(spark: SparkSession, layout: StorageLayout) -> dict[str, LockOwner]:
    """The owners of the pipeline locks now held, by pipeline run id."""
    folder = layout.files_location("locks", "pipelines")
    owners = {}
    for name in files.list_names(spark, folder):
        data = files.read_bytes(spark, f"{folder}/{name}")
        try:
            owner = LockOwner(**json.loads(data)) if data else None
        except (TypeError, ValueError):
            continue
        if owner is not None:
            owners[owner.pipeline_run_id] = owner
    return owners


def find_run(
    spark: SparkSession, config: LakehouseConfig, run_id: str | None, pipeline: str | None = None
) -> PipelineRun:
    """A run by id (or id prefix), else the latest run (of ``pipeline``).

    Raises:
        PipelineError: no such run, or no run at all.
    """
    store = PipelineRunStore(spark, StorageLayout.from_config(config))
    if run_id:
        run = store.get(run_id)
        if run is None:
            raise PipelineError(
                f"no pipeline run {run_id!r} in ops.pipeline_runs (an id, or its first 8+ characters)"
            )
        return run
    latest = store.recent(pipeline, limit=1)
    if not latest:
        raise PipelineError(
            f"no pipeline runs{f' of {pipeline}' if pipeline else ''} yet; run `lakehouse pipeline run`"
        )
    return latest[0]


def list_pipeline_runs(spark: SparkSession, config: LakehouseConfig, pipeline: str | None, limit: int) -> str:
    """Recent pipeline runs, newest first; a running one shows the task it is at."""
    layout = StorageLayout.from_config(config)
    runs = PipelineRunStore(spark, layout).recent(pipeline, limit=limit)
    if not runs:
        return "no pipeline runs yet; run `lakehouse pipeline run <name>`"
    live = running_locks(spark, layout)
    now = dt.datetime.now(dt.UTC)
    rows = [
        (
            "RUN",
            "PIPELINE",
            "ENV",
            "STATUS",
            "STARTED (UTC)",
            "DURATION",
            "DATES",
            "TASKS OK",
            "ROWS WRITTEN",
            "PROGRESS",
        )
    ]
    for run in runs:
        counts = run.counts()
        ok = counts.get("succeeded", 0) + counts.get("skipped", 0)
        progress = ""
        elapsed = run.duration_seconds
        if run.status == RUNNING:
            owner = live.get(run.pipeline_run_id)
            progress = (
                f"at {owner.progress}"
                if owner and owner.progress
                else ("lock gone: died?" if not owner else "")
            )
            elapsed = (now - run.started_at).total_seconds()
        dates = (
            run.logical_dates[0]
            if len(run.logical_dates) == 1
            else f"{run.logical_dates[0]}..{run.logical_dates[-1]}"
        )
        rows.append(
            (
                run.pipeline_run_id[:8],
                run.pipeline,
                run.env,
                run.status,
                run.started_at.strftime("%Y-%m-%d %H:%M"),
                duration(elapsed),
                dates,
                f"{ok}/{len(run.tasks)}",
                f"{sum(run.rows_written().values()):,}",
                progress,
            )
        )
    return text_table(rows)


def describe_run(spark: SparkSession, config: LakehouseConfig, run_id: str) -> str:
    """One run's tasks: status, attempts, duration, rows written, job run ids, error."""
    run = find_run(spark, config, run_id)
    head = (
        f"pipeline {run.pipeline} run {run.pipeline_run_id} (env {run.env}, {run.mode} mode): {run.status}, "
        f"started {run.started_at:%Y-%m-%d %H:%M:%S} UTC, {duration(run.duration_seconds)}"
        + (f"\n  {run.error}" if run.error else "")
        + (f"\n  report: {run.report}" if run.report else "")
    )
    rows = task_rows(run, details=True)
    return f"{head}\n{text_table(rows)}"


def list_job_runs(spark: SparkSession, config: LakehouseConfig, limit: int) -> str:
    """Recent job runs of ``ops.job_runs``, newest first."""
    store = DeltaStore(spark, StorageLayout.from_config(config))
    if not store.exists(JOB_RUNS_TABLE):
        return "no job runs yet"
    frame = store.read(JOB_RUNS_TABLE)
    pipeline = F.col("pipeline_run_id") if "pipeline_run_id" in frame.columns else F.lit(None)
    recent = (
        frame.select(
            "run_id",
            "job",
            "status",
            "started_at",
            "duration_seconds",
            "rows_written",
            pipeline.alias("pipeline_run_id"),
        )
        .orderBy(F.col("started_at").desc())
        .limit(limit)
        .collect()
    )
    rows = [("RUN", "JOB", "STATUS", "STARTED (UTC)", "DURATION", "ROWS WRITTEN", "PIPELINE RUN")]
    for row in recent:
        written = sum((row["rows_written"] or {}).values())
        rows.append(
            (
                row["run_id"][:8],
                row["job"],
                row["status"],
                row["started_at"].strftime("%Y-%m-%d %H:%M"),
                duration(row["duration_seconds"]),
                f"{written:,}",
                (row["pipeline_run_id"] or "")[:8],
            )
        )
    return text_table(rows)

"""The record of pipeline runs: ``ops.pipeline_runs``, one row per run with one entry per task.

While a run goes on, its state (the same record) is a small JSON file under the lakehouse's files,
rewritten after every task: cheap, unlike a Delta commit per task. The row is appended once, when
the run ends. A run killed half way leaves its state file; the next run, finding its stale lock,
appends it as ``abandoned``, and ``--resume`` starts from what it finished. Each task entry names
the ``ops.job_runs`` rows of its attempts.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.io import files
from lakehouse.io.delta_store import bookkeeping_store
from lakehouse.io.table_spec import TableSpec
from lakehouse.storage.layout import StorageLayout

PIPELINE_RUNS_TABLE = "ops.pipeline_runs"

# a pipeline run
RUNNING, SUCCEEDED, FAILED, ABANDONED = "running", "succeeded", "failed", "abandoned"
# a task: also pending (not reached), upstream_failed (a task it waits for failed), skipped (done before)
PENDING, UPSTREAM_FAILED, SKIPPED = "pending", "upstream_failed", "skipped"
FINISHED_OK = (SUCCEEDED, SKIPPED)

# nested fields are nullable: Delta refuses NOT NULL inside arrays
TASK_SCHEMA = T.StructType(
    [
        T.StructField("task", T.StringType(), True),
        T.StructField("job", T.StringType(), True),
        T.StructField("logical_date", T.StringType(), True),
        T.StructField("status", T.StringType(), True),
        T.StructField("attempts", T.IntegerType(), True),
        T.StructField("job_run_ids", T.ArrayType(T.StringType()), True),
        T.StructField("params", T.MapType(T.StringType(), T.StringType()), True),
        T.StructField("started_at", T.TimestampType(), True),
        T.StructField("ended_at", T.TimestampType(), True),
        T.StructField("duration_seconds", T.DoubleType(), True),
        T.StructField("rows_written", T.MapType(T.StringType(), T.LongType()), True),
        T.StructField("error", T.StringType(), True),
    ]
)
PIPELINE_RUNS_SCHEMA = T.StructType(
    [
        T.StructField("pipeline_run_id", T.StringType(), False, {"comment": "unique id of the run (uuid4)"}),
        T.StructField("pipeline", T.StringType(), False, {"comment": "pipeline name (pipelines.yml)"}),
        T.StructField("env", T.StringType(), False, {"comment": "configuration environment"}),
        T.StructField(
            "status", T.StringType(), False, {"comment": "running, succeeded, failed or abandoned"}
        ),
        T.StructField("mode", T.StringType(), False, {"comment": "session or submit"}),
        T.StructField(
            "logical_dates", T.ArrayType(T.StringType()), False, {"comment": "dates run, in order"}
        ),
        T.StructField(
            "options", T.MapType(T.StringType(), T.StringType()), False, {"comment": "from, only..."}
        ),
        T.StructField("resumed_from", T.StringType(), True, {"comment": "the failed run this one resumed"}),
        T.StructField("started_at", T.TimestampType(), False, {"comment": "UTC start"}),
        T.StructField("ended_at", T.TimestampType(), True, {"comment": "UTC end (null while running)"}),
        T.StructField("duration_seconds", T.DoubleType(), True, {"comment": "wall time"}),
        T.StructField("tasks", T.ArrayType(TASK_SCHEMA), False, {"comment": "one entry per task and date"}),
        T.StructField("error", T.StringType(), True, {"comment": "why the run failed"}),
        T.StructField("report", T.StringType(), True, {"comment": "the run's HTML report"}),
        T.StructField("host", T.StringType(), False, {"comment": "host that ran it"}),
        T.StructField("lakehouse_version", T.StringType(), False, {"comment": "framework version"}),
    ]
)
PIPELINE_RUNS_SPEC = TableSpec(
    PIPELINE_RUNS_TABLE,
    PIPELINE_RUNS_SCHEMA,
    key=("pipeline_run_id",),
    comment="One row per pipeline run, with its tasks and their job runs",
    drift="evolve",
)


@dataclass(frozen=True)
class TaskRun:
    """One task of a pipeline run for one logical date."""

    task: str
    job: str
    logical_date: str | None
    status: str = PENDING
    attempts: int = 0
    job_run_ids: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    duration_seconds: float | None = None
    rows_written: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        return self.task, self.logical_date

    @property
    def label(self) -> str:
        return f"{self.task} [{self.logical_date}]" if self.logical_date else self.task


@dataclass(frozen=True)
class PipelineRun:
    """One run of a pipeline as recorded in ``ops.pipeline_runs``."""

    pipeline_run_id: str
    pipeline: str
    env: str
    status: str
    mode: str
    logical_dates: list[str]
    options: dict[str, str]
    resumed_from: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    duration_seconds: float | None
    tasks: list[TaskRun]
    error: str | None
    report: str | None
    host: str
    lakehouse_version: str

    def task(self, key: tuple[str, str | None]) -> TaskRun:
        return next(task for task in self.tasks if task.key == key)

    def with_task(self, updated: TaskRun) -> PipelineRun:
        return replace(self, tasks=[updated if task.key == updated.key else task for task in self.tasks])

    def counts(self) -> dict[str, int]:
        """Tasks per status."""
        counts: dict[str, int] = {}
        for task in self.tasks:
            counts[task.status] = counts.get(task.status, 0) + 1
        return counts

    def rows_written(self) -> dict[str, int]:
        """Rows written per table over every task."""
        total: dict[str, int] = {}
        for task in self.tasks:
            for table, rows in task.rows_written.items():
                total[table] = total.get(table, 0) + rows
        return total

    def job_run_ids(self) -> list[str]:
        return [run_id for task in self.tasks for run_id in task.job_run_ids]


def to_json(run: PipelineRun) -> str:
    """A run as JSON (its state file)."""
    return json.dumps(asdict(run), default=lambda value: value.isoformat(), sort_keys=True)


def from_json(text: str) -> PipelineRun:
    """A run from :func:`to_json`."""
    data = json.loads(text)

    def when(value: str | None) -> dt.datetime | None:
        return None if value is None else dt.datetime.fromisoformat(value)

    tasks = [
        TaskRun(**{**task, "started_at": when(task["started_at"]), "ended_at": when(task["ended_at"])})
        for task in data["tasks"]
    ]
    return PipelineRun(
        **{**data, "tasks": tasks, "started_at": when(data["started_at"]), "ended_at": when(data["ended_at"])}
    )


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(dt.UTC)


def to_frame(spark: SparkSession, run: PipelineRun) -> Any:
    """A run as a one-row DataFrame of :data:`PIPELINE_RUNS_SCHEMA`."""
    row = asdict(run)
    for key in ("started_at", "ended_at"):
        row[key] = _utc(row[key])
    tasks = []
    for task in row["tasks"]:
        task["started_at"], task["ended_at"] = _utc(task["started_at"]), _utc(task["ended_at"])
        tasks.append(tuple(task[f.name] for f in TASK_SCHEMA.fields))
    row["tasks"] = tasks
    return spark.createDataFrame(
        [tuple(row[f.name] for f in PIPELINE_RUNS_SCHEMA.fields)], PIPELINE_RUNS_SCHEMA
    )


def from_row(row: Any) -> PipelineRun:
    """A run read back from ``ops.pipeline_runs``."""
    values = row.asDict(recursive=False)
    tasks = []
    for task in values["tasks"] or []:
        entry = task.asDict()
        entry["job_run_ids"] = list(entry["job_run_ids"] or [])
        entry["params"] = dict(entry["params"] or {})
        entry["rows_written"] = dict(entry["rows_written"] or {})
        entry["started_at"], entry["ended_at"] = _utc(entry["started_at"]), _utc(entry["ended_at"])
        tasks.append(TaskRun(**entry))
    fields = {f.name: values.get(f.name) for f in PIPELINE_RUNS_SCHEMA.fields}
    fields.update(
        tasks=tasks,
        logical_dates=list(fields["logical_dates"] or []),
        options=dict(fields["options"] or {}),
        started_at=_utc(fields["started_at"]),
        ended_at=_utc(fields["ended_at"]),
    )
    return PipelineRun(**fields)


class PipelineRunStore:
    """Reads and writes ``ops.pipeline_runs`` and the state files of running runs."""

    def __init__(self, spark: SparkSession, layout: StorageLayout):
        self.spark, self.layout = spark, layout
        self.store = bookkeeping_store(spark, layout, "pipeline_runs")

    def save(self, run: PipelineRun) -> None:
        """Append the finished (or abandoned) run's row and drop its state file."""
        self.store.append(PIPELINE_RUNS_TABLE, to_frame(self.spark, run), spec=PIPELINE_RUNS_SPEC)
        files.delete(self.spark, self.state_location(run.pipeline_run_id))

    def state_location(self, pipeline_run_id: str) -> str:
        return self.layout.files_location("pipelines", "runs", f"{pipeline_run_id}.json")

    def write_state(self, run: PipelineRun) -> None:
        """Record a running run's progress (after each task)."""
        files.write_text(self.spark, self.state_location(run.pipeline_run_id), to_json(run))

    def read_state(self, pipeline_run_id: str) -> PipelineRun | None:
        """A running (or killed) run's last recorded state, or None."""
        data = files.read_bytes(self.spark, self.state_location(pipeline_run_id))
        return None if data is None else from_json(data.decode("utf-8"))

    def recent(
        self, pipeline: str | None = None, env: str | None = None, limit: int = 20
    ) -> list[PipelineRun]:
        """The newest finished runs first, optionally of one pipeline and environment."""
        if not self.store.exists(PIPELINE_RUNS_TABLE):
            return []
        frame = self.store.read(PIPELINE_RUNS_TABLE)
        if pipeline is not None:
            frame = frame.where(F.col("pipeline") == pipeline)
        if env is not None:
            frame = frame.where(F.col("env") == env)
        return [from_row(row) for row in frame.orderBy(F.col("started_at").desc()).limit(limit).collect()]

    def get(self, pipeline_run_id: str) -> PipelineRun | None:
        """One finished run by id (a unique prefix of at least 6 characters also works)."""
        if not self.store.exists(PIPELINE_RUNS_TABLE):
            return None
        rows = (
            self.store.read(PIPELINE_RUNS_TABLE)
            .where(F.col("pipeline_run_id").startswith(pipeline_run_id))
            .limit(2)
            .collect()
        )
        if len(rows) != 1 or (len(pipeline_run_id) < 6 and rows[0]["pipeline_run_id"] != pipeline_run_id):
            return None
        return from_row(rows[0])

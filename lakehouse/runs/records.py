"""The record every job run leaves in ``ops.job_runs``: one row per run, success or failure.

While a run goes on, its state (:class:`RunningJob`) is a small JSON file under the lakehouse's
files; the row is appended when the run ends, then the file is removed. A run killed half way
leaves its file: the next job run appends it as ``abandoned`` (see :mod:`lakehouse.runs.guard`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import (
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakehouse.io.table_spec import TableSpec

JOB_RUNS_TABLE = "ops.job_runs"
JOB_RUNS_KEY = ("run_id",)
SUCCEEDED = "succeeded"
FAILED = "failed"
ABANDONED = "abandoned"
_MAX_MESSAGE = 4000

# One row per job run.
JOB_RUNS_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False, {"comment": "unique id of the run (uuid4)"}),
        StructField("job", StringType(), False, {"comment": "job name"}),
        StructField("env", StringType(), False, {"comment": "configuration environment"}),
        StructField("params", MapType(StringType(), StringType()), False, {"comment": "job parameters"}),
        StructField("status", StringType(), False, {"comment": "succeeded, failed or abandoned"}),
        StructField("started_at", TimestampType(), False, {"comment": "UTC start"}),
        StructField("ended_at", TimestampType(), False, {"comment": "UTC end"}),
        StructField("duration_seconds", DoubleType(), False, {"comment": "wall time of the job"}),
        StructField("rows_written", MapType(StringType(), LongType()), False, {"comment": "rows per table"}),
        StructField("error_class", StringType(), True, {"comment": "exception class on failure"}),
        StructField("error_message", StringType(), True, {"comment": "exception message on failure"}),
        StructField("spark_master", StringType(), True, {"comment": "master the run used"}),
        StructField("spark_app_id", StringType(), True, {"comment": "Spark application id"}),
        StructField("lakehouse_version", StringType(), False, {"comment": "framework version"}),
        StructField("host", StringType(), False, {"comment": "driver host name"}),
        StructField("pipeline_run_id", StringType(), True, {"comment": "ops.pipeline_runs run, if any"}),
        StructField(
            "tables_read",
            MapType(StringType(), LongType()),
            True,
            {"comment": "Delta version read per table"},
        ),
        StructField("metrics", MapType(StringType(), DoubleType()), True, {"comment": "figures of the run"}),
        StructField(
            "outputs", MapType(StringType(), StringType()), True, {"comment": "files written for people"}
        ),
    ]
)
# new columns are added to an existing ops.job_runs (written before they existed)
JOB_RUNS_SPEC = TableSpec(
    JOB_RUNS_TABLE, JOB_RUNS_SCHEMA, key=JOB_RUNS_KEY, comment="One row per job run", drift="evolve"
)


@dataclass(frozen=True)
class JobRun:
    """One job run as recorded in ``ops.job_runs`` (fields match :data:`JOB_RUNS_SCHEMA`)."""

    run_id: str
    job: str
    env: str
    params: dict[str, str]
    status: str
    started_at: dt.datetime
    ended_at: dt.datetime
    duration_seconds: float
    rows_written: dict[str, int]
    error_class: str | None
    error_message: str | None
    spark_master: str | None
    spark_app_id: str | None
    lakehouse_version: str
    host: str
    pipeline_run_id: str | None = None
    tables_read: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED

    def to_frame(self, spark: SparkSession) -> DataFrame:
        """This record as a one-row DataFrame of :data:`JOB_RUNS_SCHEMA`."""
        row = asdict(self)
        if row["error_message"] is not None and len(row["error_message"]) > _MAX_MESSAGE:
            row["error_message"] = row["error_message"][: _MAX_MESSAGE - 15] + "... [truncated]"
        # aware datetimes convert to the right instant whatever the machine's time zone
        for key in ("started_at", "ended_at"):
            row[key] = row[key].astimezone(dt.UTC)
        return spark.createDataFrame([tuple(row[f.name] for f in JOB_RUNS_SCHEMA.fields)], JOB_RUNS_SCHEMA)

    @classmethod
    def from_row(cls, row: Any) -> JobRun:
        """A record read back from ``ops.job_runs`` (columns added later may be missing or null)."""
        values = row.asDict()
        fields = {f.name: values.get(f.name) for f in JOB_RUNS_SCHEMA.fields}
        for key in ("params", "rows_written", "tables_read", "metrics", "outputs"):
            fields[key] = dict(fields[key] or {})
        for key in ("started_at", "ended_at"):
            fields[key] = fields[key].astimezone(dt.UTC)  # pyspark returns naive local times
        return cls(**fields)


@dataclass(frozen=True)
class RunningJob:
    """A run in progress, as written in its state file (and, for a lock, who holds it).

    Attributes:
        exclusive: the tables (and indexes) whose locks the run holds.
        heartbeat_at: refreshed while the run lives; a killed run's last sign of life.
    """

    run_id: str
    job: str
    env: str
    params: dict[str, str]
    host: str
    pid: int
    started_at: str  # ISO UTC
    heartbeat_at: str  # ISO UTC
    spark_master: str | None = None
    spark_app_id: str | None = None
    lakehouse_version: str = ""
    pipeline_run_id: str | None = None
    exclusive: list[str] = field(default_factory=list)

    @property
    def holder_id(self) -> str:
        return self.run_id

    def abandoned(self, reason: str) -> JobRun:
        """The ``ops.job_runs`` record of this run, killed: ended at its last heartbeat."""
        started = dt.datetime.fromisoformat(self.started_at)
        ended = max(dt.datetime.fromisoformat(self.heartbeat_at), started)
        return JobRun(
            run_id=self.run_id,
            job=self.job,
            env=self.env,
            params=dict(self.params),
            status=ABANDONED,
            started_at=started,
            ended_at=ended,
            duration_seconds=round((ended - started).total_seconds(), 3),
            rows_written={},
            error_class="Abandoned",
            error_message=(
                f"abandoned: its process {self.pid} on {self.host} stopped before the run finished "
                f"({reason}; last heartbeat {self.heartbeat_at}); rerun the job"
            ),
            spark_master=self.spark_master,
            spark_app_id=self.spark_app_id,
            lakehouse_version=self.lakehouse_version,
            host=self.host,
            pipeline_run_id=self.pipeline_run_id,
        )

"""The record every job run leaves in ``ops.job_runs``: one row per run, success or failure."""

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
_MAX_MESSAGE = 4000

# One row per job run.
JOB_RUNS_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False, {"comment": "unique id of the run (uuid4)"}),
        StructField("job", StringType(), False, {"comment": "job name"}),
        StructField("env", StringType(), False, {"comment": "configuration environment"}),
        StructField("params", MapType(StringType(), StringType()), False, {"comment": "job parameters"}),
        StructField("status", StringType(), False, {"comment": "succeeded or failed"}),
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

"""The record every job run leaves in ``ops.job_runs``: one row per run, success or failure."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

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
    ]
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

"""How far incremental readers got: ``ops.table_progress``, one row per (target, source) per run.

A job that builds a table from another records, after a successful write, the source's Delta
version it has read up to; its next run reads only the versions after it. The record is written
after the target, so a crash in between makes the next run read the same versions again: the
writes of such a job must be idempotent (MERGE by key, or an append with Delta's txn ids).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.io.delta_store import DeltaStore, bookkeeping_store
from lakehouse.storage.layout import StorageLayout

PROGRESS_TABLE = "ops.table_progress"
PROGRESS_SCHEMA = T.StructType(
    [
        T.StructField("target", T.StringType(), False, {"comment": "table written, e.g. silver.orders"}),
        T.StructField("source", T.StringType(), False, {"comment": "table read, e.g. bronze.orders"}),
        T.StructField("source_version", T.LongType(), False, {"comment": "source version read up to"}),
        T.StructField("run_id", T.StringType(), False, {"comment": "run that read it (ops.job_runs)"}),
        T.StructField("recorded_at", T.TimestampType(), False, {"comment": "UTC"}),
    ]
)


def _store(spark: SparkSession, layout: StorageLayout, run_id: str) -> DeltaStore:
    return bookkeeping_store(spark, layout, "table_progress", run_id)


def last_source_version(spark: SparkSession, layout: StorageLayout, target: str, source: str) -> int | None:
    """The source version the last successful run building ``target`` read up to (None: never)."""
    store = DeltaStore(spark, layout)
    if not store.exists(PROGRESS_TABLE):
        return None
    row = (
        store.read(PROGRESS_TABLE)
        .where((F.col("target") == target) & (F.col("source") == source))
        .agg(F.max("source_version").alias("version"))
        .first()
    )
    return None if row is None or row["version"] is None else int(row["version"])


def record_source_versions(
    spark: SparkSession, layout: StorageLayout, target: str, versions: Mapping[str, int], run_id: str
) -> None:
    """Record that ``target`` now reflects each source up to its version, in one commit."""
    now = dt.datetime.now(dt.UTC)
    rows = [(target, source, version, run_id, now) for source, version in versions.items()]
    _store(spark, layout, run_id).append(PROGRESS_TABLE, spark.createDataFrame(rows, PROGRESS_SCHEMA))


def record_source_version(
    spark: SparkSession, layout: StorageLayout, target: str, source: str, version: int, run_id: str
) -> None:
    """Record that ``target`` now reflects ``source`` up to ``version``."""
    record_source_versions(spark, layout, target, {source: version}, run_id)

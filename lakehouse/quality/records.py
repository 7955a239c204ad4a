"""Where quality outcomes are kept: ``ops.quality_results`` and the ``quarantine.<table>`` tables.

- ``ops.quality_results``: one row per expectation per validation (run), success or not.
- ``quarantine.<table>``: the rows a ``drop`` expectation refused, with every column of the row
  as it was checked, the labels of the expectations it failed, the run that refused it, and,
  once replayed into its table, the run that did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.io.delta_store import DeltaStore, bookkeeping_store
from lakehouse.io.table_spec import TableSpec
from lakehouse.quality.rules import FAILED
from lakehouse.quality.validation import ExpectationResult
from lakehouse.storage.layout import StorageLayout

RESULTS_TABLE = "ops.quality_results"
RESULTS_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType(), False, {"comment": "run that validated (ops.job_runs)"}),
        T.StructField("job", T.StringType(), False, {"comment": "job that validated"}),
        T.StructField("table", T.StringType(), False, {"comment": "table whose rows were validated"}),
        T.StructField("expectation", T.StringType(), False, {"comment": "the expectation's label"}),
        T.StructField("kind", T.StringType(), False, {"comment": "not_null, unique, references, ..."}),
        T.StructField("severity", T.StringType(), False, {"comment": "warn, drop or fail"}),
        T.StructField("success", T.BooleanType(), False, {"comment": "true when no row failed it"}),
        T.StructField("element_count", T.LongType(), True, {"comment": "rows validated"}),
        T.StructField("unexpected_count", T.LongType(), True, {"comment": "rows failing it"}),
        T.StructField("unexpected_percent", T.DoubleType(), True, {"comment": "of the non-null rows (GX)"}),
        T.StructField("sample", T.ArrayType(T.StringType()), False, {"comment": "up to 10 failing values"}),
        T.StructField("observed", T.StringType(), True, {"comment": "observed value (table-level kinds)"}),
        T.StructField("phase", T.StringType(), False, {"comment": "refine (new rows) or replay"}),
        T.StructField("validated_at", T.TimestampType(), False, {"comment": "UTC"}),
        T.StructField(
            "run_abandoned",
            T.BooleanType(),
            True,
            {"comment": "true: the run was killed before it finished (partial results, left out of reports)"},
        ),
    ]
)
RESULTS_DOC = "One row per expectation per validation run (written by the quality step)."
ABANDONED_COLUMN = "run_abandoned"
# one validation's rows: an expectation of a table in a phase of a run
RESULTS_KEY = ("run_id", "table", "phase", "validated_at", "expectation")
# a table written before run_abandoned existed gains it
RESULTS_SPEC = TableSpec(RESULTS_TABLE, RESULTS_SCHEMA, comment=RESULTS_DOC, drift="evolve")
# Columns a quarantine table adds to the rows it keeps.
QUARANTINE_ID = "_quarantine_id"
QUARANTINE_RUN = "_quarantine_run_id"
QUARANTINED_AT = "_quarantined_at"
REPLAYED_RUN = "_replayed_run_id"
REPLAYED_AT = "_replayed_at"
QUARANTINE_COLUMNS = (FAILED, QUARANTINE_ID, QUARANTINE_RUN, QUARANTINED_AT, REPLAYED_RUN, REPLAYED_AT)


def quarantine_table(table: str) -> str:
    """``silver.orders`` -> ``quarantine.orders``."""
    return f"quarantine.{table.split('.')[-1]}"


def results_frame(
    spark: SparkSession,
    results: Sequence[ExpectationResult],
    run_id: str,
    job: str,
    phase: str,
    validated_at: dt.datetime,
) -> DataFrame:
    """The rows of ``ops.quality_results`` for one validation."""
    rows = [
        (
            run_id,
            job,
            r.table,
            r.expectation,
            r.kind,
            r.severity,
            r.success,
            r.element_count,
            r.unexpected_count,
            None if r.unexpected_percent is None else float(r.unexpected_percent),
            list(r.sample),
            r.observed,
            phase,
            validated_at,
            False,
        )
        for r in results
    ]
    return spark.createDataFrame(rows, RESULTS_SCHEMA)


def record_results(
    spark: SparkSession,
    layout: StorageLayout,
    results: Sequence[ExpectationResult],
    run_id: str,
    job: str,
    phase: str = "refine",
) -> None:
    """Append one validation's results to ``ops.quality_results``."""
    if not results:
        return
    store = bookkeeping_store(spark, layout, "quality_results", run_id, job)
    frame = results_frame(spark, results, run_id, job, phase, dt.datetime.now(dt.UTC))
    store.append(RESULTS_TABLE, frame, RESULTS_SPEC)


def completed_runs(results: DataFrame) -> DataFrame:
    """The rows of ``ops.quality_results`` recorded by runs that finished: without those of runs
    killed half way (marked by :func:`mark_abandoned`), whose validations may be partial (pure)."""
    if ABANDONED_COLUMN not in results.columns:  # a table written before the column existed
        return results
    return results.where(~F.coalesce(F.col(ABANDONED_COLUMN), F.lit(False)))


def mark_abandoned(spark: SparkSession, layout: StorageLayout, run_id: str) -> int:
    """Mark the rows a run recorded in ``ops.quality_results`` as those of an abandoned run.

    Called for a run killed before it finished (see :mod:`lakehouse.runs.guard`); the reports
    then leave its rows out. Marking again changes nothing.

    Returns:
        Rows marked now.
    """
    store = bookkeeping_store(spark, layout, "quality_results", run_id)
    if not store.exists(RESULTS_TABLE):
        return 0
    rows = store.read(RESULTS_TABLE).where(F.col("run_id") == run_id)
    if ABANDONED_COLUMN in rows.columns:
        rows = rows.where(~F.coalesce(F.col(ABANDONED_COLUMN), F.lit(False)))
    marked = rows.withColumn(ABANDONED_COLUMN, F.lit(True))
    if marked.limit(1).count() == 0:
        return 0
    return store.merge(RESULTS_TABLE, marked, RESULTS_KEY, spec=RESULTS_SPEC)["updated"]


def previous_row_count(spark: SparkSession, layout: StorageLayout, table: str) -> int | None:
    """Rows validated for ``table`` by its latest refine validation (None before the first)."""
    store = DeltaStore(spark, layout)
    if not store.exists(RESULTS_TABLE):
        return None
    latest = (
        completed_runs(store.read(RESULTS_TABLE))
        .where((F.col("table") == table) & (F.col("phase") == "refine") & F.col("element_count").isNotNull())
        .orderBy(F.col("validated_at").desc())
        .select("element_count")
        .first()
    )
    return None if latest is None else int(latest["element_count"])


def to_quarantine(dropped: DataFrame, run_id: str, quarantined_at: dt.datetime) -> DataFrame:
    """Rows refused by a ``drop`` expectation as quarantine rows (pure).

    ``_quarantine_id`` is a hash of the row's values (its bronze lineage included) and of the
    expectations it failed, never of the run: the same source row refused for the same reasons
    has the same id whichever run, replay or re-read of bronze refuses it, so it is quarantined
    once (:meth:`DeltaStore.insert_new`).
    """
    values = [c for c in dropped.columns if c != FAILED]
    row_hash = F.sha2(F.to_json(F.struct(*[F.col(f"`{c}`") for c in [*values, FAILED]])), 256)
    return dropped.select(
        *[F.col(f"`{c}`") for c in values],
        F.col(FAILED),
        row_hash.alias(QUARANTINE_ID),
        F.lit(run_id).alias(QUARANTINE_RUN),
        F.lit(quarantined_at).cast(T.TimestampType()).alias(QUARANTINED_AT),
        F.lit(None).cast(T.StringType()).alias(REPLAYED_RUN),
        F.lit(None).cast(T.TimestampType()).alias(REPLAYED_AT),
    )


def quarantine_spec(table: str, rows: DataFrame) -> TableSpec:
    """The declaration of ``quarantine.<name>`` for rows of :func:`to_quarantine`."""
    return TableSpec(
        name=quarantine_table(table),
        schema=T.StructType(
            [T.StructField(f.name, f.dataType, True, f.metadata) for f in rows.schema.fields]
        ),
        key=(QUARANTINE_ID,),
        comment=f"Rows of {table} refused by a drop expectation, with the reasons; replayable.",
        drift="evolve",
    )


def pending_quarantine(quarantine: DataFrame) -> DataFrame:
    """Quarantined rows not replayed yet (with their quarantine columns, see QUARANTINE_COLUMNS)."""
    return quarantine.where(F.col(REPLAYED_RUN).isNull())

"""Which landed files a source has ingested or set aside: ``ops.ingested_files``, ``ops.rejected_files``.

Correctness of file ingestion rests on these tables, not on a streaming checkpoint: a file is
named by its path relative to the source's landing folder (so a lakehouse copied or mounted
elsewhere keeps its history), and a run

1. **claims** the new files of a batch: one row per file inserted only where no run claimed that
   file before (a MERGE, so two runs never claim the same file);
2. appends the batch's rows to bronze with Delta's idempotent append, ``txnAppId`` =
   ``bronze_ingest:<source>:<run id>`` and ``txnVersion`` = the batch number;
3. **settles** the claim: records the bronze version on the claimed rows.

A run that dies between 1 and 3 leaves unsettled claims. The next run settles them from the
bronze table's own record of committed batches (Delta's ``SetTransaction``, no data read) or,
when the batch never committed, ingests exactly those files again under the same ``txnAppId``
and batch, so that the append is skipped if it did commit meanwhile. Nothing is written twice
and nothing is lost, whatever was deleted or moved in the files area.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.io.delta_store import DeltaStore, bookkeeping_store
from lakehouse.io.table_spec import TableSpec
from lakehouse.storage.layout import StorageLayout

INGESTED_TABLE = "ops.ingested_files"
REJECTED_TABLE = "ops.rejected_files"
BOOTSTRAP_RUN = "recorded-from-bronze"

_FILE_FIELDS = [
    T.StructField("source", T.StringType(), False, {"comment": "source of sources.yml"}),
    T.StructField("file", T.StringType(), False, {"comment": "path relative to the source's landing folder"}),
    T.StructField("size", T.LongType(), False, {"comment": "bytes when it was read"}),
    T.StructField("modified_at", T.TimestampType(), False, {"comment": "file modification time (UTC)"}),
]
INGESTED_SPEC = TableSpec(
    INGESTED_TABLE,
    T.StructType(
        [
            *_FILE_FIELDS,
            T.StructField("table", T.StringType(), False, {"comment": "bronze table the rows went to"}),
            T.StructField("run_id", T.StringType(), False, {"comment": "run that claimed it (ops.job_runs)"}),
            T.StructField("batch", T.LongType(), False, {"comment": "batch of that run (txnVersion)"}),
            T.StructField(
                "table_version",
                T.LongType(),
                True,
                {"comment": "bronze version holding its rows; null while the batch is unsettled"},
            ),
            T.StructField("settled", T.BooleanType(), False, {"comment": "false while in flight"}),
            T.StructField("claimed_at", T.TimestampType(), False, {"comment": "UTC"}),
        ]
    ),
    key=("source", "file"),
    comment="Every landed file a file source has ingested, by path relative to its landing folder",
    drift="evolve",
)
REJECTED_SPEC = TableSpec(
    REJECTED_TABLE,
    T.StructType(
        [
            *_FILE_FIELDS,
            T.StructField("table", T.StringType(), False, {"comment": "bronze table it was meant for"}),
            T.StructField("reason", T.StringType(), False, {"comment": "why it could not be ingested"}),
            T.StructField("run_id", T.StringType(), False, {"comment": "run that set it aside"}),
            T.StructField("rejected_at", T.TimestampType(), False, {"comment": "UTC"}),
        ]
    ),
    key=("source", "file", "size", "modified_at"),
    comment="Landed files set aside because they cannot be read; `lakehouse ingest rejected` lists them",
    drift="evolve",
)


@dataclass(frozen=True)
class LandedFile:
    """One file of a landing folder, as listed."""

    path: str  # as the file system names it, for reading
    file: str  # relative to the landing folder, for the record
    size: int
    modified_at: dt.datetime


@dataclass(frozen=True)
class Claim:
    """An unsettled batch: its files, and the run and batch number its append used."""

    run_id: str
    batch: int
    files: tuple[str, ...]  # relative paths


def app_id(source: str, run_id: str) -> str:
    """The ``txnAppId`` of a run's appends of one source."""
    return f"bronze_ingest:{source}:{run_id}"


class FileLedger:
    """The ingested and rejected files of one source."""

    def __init__(self, spark: SparkSession, layout: StorageLayout, source: str, table: str, run_id: str):
        self.spark, self.source, self.table, self.run_id = spark, source, table, run_id
        self.store = bookkeeping_store(spark, layout, "bronze_ingest", run_id)

    def known(self) -> DataFrame | None:
        """The relative paths this source claimed (None: nothing recorded yet)."""
        if not self.store.exists(INGESTED_TABLE):
            return None
        return self.store.read(INGESTED_TABLE).where(F.col("source") == self.source).select("file")

    def rejected(self) -> DataFrame | None:
        """The files set aside, as (file, size, modified_at): a file changed since is tried again."""
        if not self.store.exists(REJECTED_TABLE):
            return None
        return (
            self.store.read(REJECTED_TABLE)
            .where(F.col("source") == self.source)
            .select("file", "size", "modified_at")
        )

    def state(self) -> tuple[bool, list[Claim]]:
        """Whether any file of this source is recorded as ingested, and the batches claimed by
        runs that did not record their outcome, oldest first (one read of the ledger)."""
        if not self.store.exists(INGESTED_TABLE):
            return False, []
        row = (
            self.store.read(INGESTED_TABLE)
            .where(F.col("source") == self.source)
            .agg(
                F.max(F.col("settled").cast("int")).alias("settled"),
                F.collect_list(
                    F.when(~F.col("settled"), F.struct("run_id", "batch", "file", "claimed_at"))
                ).alias("pending"),
            )
            .first()
        )
        batches: dict[tuple[str, int], list] = {}
        for claimed in row["pending"]:  # a handful: only batches a killed run left behind
            batches.setdefault((claimed["run_id"], int(claimed["batch"])), []).append(claimed)
        ordered = sorted(
            batches.items(), key=lambda item: (min(c["claimed_at"] for c in item[1]), item[0][1])
        )
        claims = [
            Claim(run, batch, tuple(sorted(c["file"] for c in files))) for (run, batch), files in ordered
        ]
        return bool(row["settled"]), claims

    def claim(self, files: Sequence[LandedFile], batch: int) -> set[str]:
        """Claim files for this run's batch; returns the relative paths this run now holds
        (a file another run claimed first is left to it)."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rows = [
            (self.source, f.file, f.size, f.modified_at, self.table, self.run_id, batch, None, False, now)
            for f in files
        ]
        frame = self.spark.createDataFrame(rows, INGESTED_SPEC.schema)
        inserted = self.store.insert_new(INGESTED_TABLE, frame, INGESTED_SPEC.key, spec=INGESTED_SPEC)
        if inserted == len(rows):
            return {f.file for f in files}
        mine = (
            self.store.read(INGESTED_TABLE)
            .where(
                (F.col("source") == self.source)
                & (F.col("run_id") == self.run_id)
                & (F.col("batch") == batch)
            )
            .select("file")
            .collect()
        )
        return {row["file"] for row in mine}

    def settle(self, run_id: str, batch: int, table_version: int | None) -> None:
        """Record that a claimed batch is in bronze (at ``table_version``, when known)."""
        self.store.update_where(
            INGESTED_TABLE,
            f"source = {_sql(self.source)} AND run_id = {_sql(run_id)} "
            f"AND batch = {int(batch)} AND NOT settled",
            {"settled": True, "table_version": F.lit(table_version).cast(T.LongType())},
        )

    def release(self, run_id: str, batch: int, files: Iterable[str]) -> None:
        """Drop the claims of files that did not go into the batch (set aside, or gone)."""
        names = ", ".join(_sql(name) for name in files)
        if names:
            self.store.delete_where(
                INGESTED_TABLE,
                f"source = {_sql(self.source)} AND run_id = {_sql(run_id)} AND batch = {int(batch)} "
                f"AND NOT settled AND file IN ({names})",
            )

    def reject(self, files: Sequence[LandedFile], reasons: dict[str, str]) -> int:
        """Set files aside with their reasons; a file already set aside as it is stays once."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rows = [
            (self.source, f.file, f.size, f.modified_at, self.table, reasons[f.file][:2000], self.run_id, now)
            for f in files
        ]
        frame = self.spark.createDataFrame(rows, REJECTED_SPEC.schema)
        return self.store.insert_new(REJECTED_TABLE, frame, REJECTED_SPEC.key, spec=REJECTED_SPEC)

    def record_from_bronze(self, listed: DataFrame, bronze_files: DataFrame) -> int:
        """Seed the ledger of a source ingested before it existed (or whose ledger was lost):
        the listed files whose rows are in bronze (``_source_file`` ends with their relative
        path, so a moved landing folder matches too) are recorded as ingested.

        Returns:
            Files recorded.
        """
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        # bronze keeps Spark's URI form of the path (a space is %20); the listing has plain paths
        found = bronze_files.select("_source_file").distinct().collect()
        plain = sorted({unquote(row["_source_file"]) for row in found if row["_source_file"]})
        paths = self.spark.createDataFrame([(path,) for path in plain], "bronze_path string")
        matched = (
            listed.join(
                F.broadcast(paths),
                F.expr("bronze_path = path OR endswith(bronze_path, concat('/', file))"),
            )
            .select("file", "size", "modified_at")
            .distinct()
        )
        frame = matched.select(
            F.lit(self.source).alias("source"),
            "file",
            "size",
            "modified_at",
            F.lit(self.table).alias("table"),
            F.lit(BOOTSTRAP_RUN).alias("run_id"),
            F.lit(0).cast(T.LongType()).alias("batch"),
            F.lit(None).cast(T.LongType()).alias("table_version"),
            F.lit(True).alias("settled"),
            F.lit(now).cast(T.TimestampType()).alias("claimed_at"),
        )
        return self.store.insert_new(INGESTED_TABLE, frame, INGESTED_SPEC.key, spec=INGESTED_SPEC)


def rejected_files(
    spark: SparkSession, layout: StorageLayout, sources: Sequence[str] | None = None
) -> list[dict]:
    """The files set aside, newest first (all sources, or the given ones)."""
    store = DeltaStore(spark, layout)
    if not store.exists(REJECTED_TABLE):
        return []
    frame = store.read(REJECTED_TABLE)
    if sources:
        frame = frame.where(F.col("source").isin(list(sources)))
    return [row.asDict() for row in frame.orderBy(F.desc("rejected_at"), "source", "file").collect()]


def forget_rejections(
    spark: SparkSession, layout: StorageLayout, source: str, files: Sequence[str] | None, run_id: str
) -> int:
    """Remove files from ``ops.rejected_files`` so that the next ingest tries them again.

    Args:
        files: relative paths; None: every file of the source.

    Returns:
        Rows removed.
    """
    store = bookkeeping_store(spark, layout, "ingest retry", run_id)
    if not store.exists(REJECTED_TABLE):
        return 0
    condition = f"source = {_sql(source)}"
    if files is not None:
        condition += f" AND file IN ({', '.join(_sql(name) for name in files)})"
    return store.delete_where(REJECTED_TABLE, condition)


def _sql(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

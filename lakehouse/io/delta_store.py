"""Delta table I/O: the one place that reads and writes lakehouse tables.

Jobs and transformations never call ``DataFrame.write`` themselves; they hand a DataFrame
and a table name (``silver.orders``) to a :class:`DeltaStore`, which resolves the location,
checks the schema against the table's drift policy, writes, tags the commit with the run and
reports rows written. Operations: create from a :class:`TableSpec`, append, idempotent
append, MERGE upsert, SCD type 2, overwrite of a partition, read as of a version or timestamp,
history, restore, OPTIMIZE and VACUUM (the MERGE family lives in :mod:`lakehouse.io.delta_merges`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from delta import exceptions as delta_errors
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.errors import (
    ChangeFeedError,
    ConcurrentWriteError,
    PartitionOverwriteError,
    SchemaDriftError,
    TableNameError,
    TableNotFoundError,
)
from lakehouse.io import files
from lakehouse.io.delta_merges import DeltaMerges
from lakehouse.io.table_spec import TableSpec
from lakehouse.storage.catalog import list_tables, register_table
from lakehouse.storage.layout import StorageLayout, TableLocation, TableName

log = logging.getLogger(__name__)
RETRIES = 3
DEFAULT_RETENTION_HOURS = 168  # Delta's default: 7 days
# Each Delta conflict arrives as its own class (none subclasses another), so list them all.
CONFLICTS = (
    delta_errors.ConcurrentAppendException,
    delta_errors.ConcurrentDeleteReadException,
    delta_errors.ConcurrentDeleteDeleteException,
    delta_errors.ConcurrentTransactionException,
    delta_errors.ConcurrentWriteException,
    delta_errors.MetadataChangedException,
    delta_errors.ProtocolChangedException,
    delta_errors.DeltaConcurrentModificationException,
)
# The session-wide userMetadata setting is shared by every thread of the session.
_TAG_LOCK = threading.RLock()

INTERNAL_LAYER = "ops"
CHANGE_FEED = "delta.enableChangeDataFeed"
# the columns Delta's change data feed adds to each row
CHANGE_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


@dataclass(frozen=True)
class TableSummary:
    """One row of ``lakehouse tables``: a table's size and latest Delta version."""

    table: str
    layer: str
    location: str
    rows: int
    version: int


class DeltaStore(DeltaMerges):
    """Read and write the Delta tables of one lakehouse.

    Args:
        spark: the session to use.
        layout: resolves table names to locations.
        commit_tag: JSON-able facts stored in each commit's ``userMetadata`` (run id, job),
            so that ``DESCRIBE HISTORY`` tells which run wrote which version.
        on_write: called with ``(table name, rows written)`` after each write; the job
            runner uses it to record rows written per table.
        on_read: called with ``(table name, Delta version read)`` for each read (``read``,
            ``changes``); the job runner uses it to record each run's lineage.
        write_internal: allow writes to the internal ``ops`` layer (run records); jobs get a
            store without it, so no job can overwrite the lakehouse's own history.
    """

    def __init__(
        self,
        spark: SparkSession,
        layout: StorageLayout,
        commit_tag: dict[str, str] | None = None,
        on_write: Callable[[str, int], None] | None = None,
        write_internal: bool = False,
        on_read: Callable[[str, int], None] | None = None,
    ):
        self.spark = spark
        self.layout = layout
        self.commit_tag = dict(commit_tag or {})
        self.on_write = on_write
        self.write_internal = write_internal
        self.on_read = on_read
        self.last_commit_version: int | None = None  # of this store's latest write, None if skipped

    def location(self, table: str | TableName) -> TableLocation:
        """Resolve a table name to its catalog name and storage location."""
        return self.layout.table(table)

    def exists(self, table: str | TableName) -> bool:
        """True when a Delta table exists at the table's location."""
        return DeltaTable.isDeltaTable(self.spark, self.location(table).location)

    def read(
        self, table: str | TableName, version: int | None = None, timestamp: str | None = None
    ) -> DataFrame:
        """Read a table, optionally as of a Delta version or a timestamp (``2026-11-25 10:00:00``).

        Raises:
            TableNotFoundError: no Delta table at the table's location.
            ValueError: both a version and a timestamp.
        """
        if version is not None and timestamp is not None:
            raise ValueError(f"read {table}: give a version or a timestamp, not both")
        location = self._existing(table)
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        if timestamp is not None:
            reader = reader.option("timestampAsOf", timestamp)
        frame = reader.load(location.location)
        if self.on_read is not None:
            self.on_read(
                str(location.table), version if version is not None else self._loaded_version(location)
            )
        return frame

    def changes(
        self,
        table: str | TableName,
        after_version: int | None,
        up_to_version: int,
        with_old_rows: bool = False,
    ) -> DataFrame:
        """The rows a table gained after ``after_version``, up to ``up_to_version`` included.

        Read from Delta's change data feed (inserted rows and the new side of updates), so only
        the files of those commits are read. With ``after_version`` None, every row of
        ``up_to_version``: the first run of an incremental reader.

        Args:
            with_old_rows: also the old side of updates and the deleted rows: every row value
                the changes touched (for a reader that recomputes what those values fed).

        Raises:
            ChangeFeedError: the change data feed was off for some of those commits, or their
                files were vacuumed.
        """
        if after_version is None:
            return self.read(table, version=up_to_version)
        location = self._existing(table)
        reader = self.spark.read.format("delta").option("readChangeFeed", "true")
        if after_version >= up_to_version:  # nothing new: the table's columns, no rows
            return self.read(table, version=up_to_version).limit(0)
        frame = (
            reader.option("startingVersion", after_version + 1)
            .option("endingVersion", up_to_version)
            .load(location.location)
        )
        try:
            frame.schema  # noqa: B018 (resolving the plan checks that the feed covers the range)
        except Exception as error:
            if not isinstance(error, delta_errors.CapturedException):
                raise
            raise ChangeFeedError(
                f"table {location.table}: cannot read its changes in versions {after_version + 1}.."
                f"{up_to_version} ({error.getErrorClass() or type(error).__name__}); enable "
                f"{CHANGE_FEED} on the table, then read it whole once (e.g. silver_refine "
                "--param full_refresh=true)"
            ) from error
        if self.on_read is not None:
            self.on_read(str(location.table), up_to_version)
        kinds = ["insert", "update_postimage", *(["update_preimage", "delete"] if with_old_rows else [])]
        return frame.where(F.col("_change_type").isin(*kinds)).drop(*CHANGE_COLUMNS)

    def enable_change_feed(self, table: str | TableName) -> bool:
        """Turn on Delta's change data feed for a table (from its next commit on).

        Returns:
            True when this call turned it on; False when it was on already.
        """
        location = self._writable(table)
        self._existing(table)
        properties = DeltaTable.forPath(self.spark, location.location).detail().first()["properties"]
        if str(properties.get(CHANGE_FEED, "false")).lower() == "true":
            return False
        statement = f"ALTER TABLE delta.`{location.location}` SET TBLPROPERTIES ('{CHANGE_FEED}' = 'true')"
        self._tagged(
            lambda: self._retrying("enable change feed", location, lambda: self.spark.sql(statement))
        )
        return True

    def create(self, spec: TableSpec) -> bool:
        """Create a table from its declaration unless it exists (schema, comments, properties).

        Returns:
            True when this call created the table.
        """
        location = self._writable(spec.name)
        if DeltaTable.isDeltaTable(self.spark, location.location):
            return False
        builder = DeltaTable.createIfNotExists(self.spark).location(location.location)
        if self.layout.settings.catalog == "metastore":
            builder = builder.tableName(location.catalog_name)
        for column in spec.schema.fields:
            builder = builder.addColumn(
                column.name, column.dataType, nullable=column.nullable, comment=column.metadata.get("comment")
            )
        if spec.partition_by:
            builder = builder.partitionedBy(*spec.partition_by)
        if spec.comment:
            builder = builder.comment(spec.comment)
        for key, value in spec.properties.items():
            builder = builder.property(key, value)
        self._tagged(lambda: self._retrying("create", location, builder.execute))
        return True

    def append_once(
        self,
        table: str | TableName,
        frame: DataFrame,
        app_id: str,
        version: int,
        spec: TableSpec | None = None,
    ) -> int:
        """Append a batch exactly once, whatever the number of retries or reruns.

        Delta records ``(app_id, version)`` in the same commit as the rows (``txnAppId`` /
        ``txnVersion``) and skips any later write whose version is not greater: a rerun of a
        batch, even after a crash between the commit and its bookkeeping, writes nothing twice.

        Args:
            app_id: the writer's stable id (e.g. ``bronze_ingest:orders``).
            version: the batch number; must grow from batch to batch for the same ``app_id``.
            spec: the table's declaration (created from it on first write; its drift policy).

        Returns:
            Rows written; 0 when the batch was already committed.
        """
        if version < 0:
            raise ValueError(f"append_once {table}: version must be >= 0, got {version}")
        return self._write(
            table, frame, "append", {"txnAppId": app_id, "txnVersion": str(version)}, spec=spec
        )

    def committed_batch(self, table: str | TableName, app_id: str) -> int | None:
        """The last batch ``append_once`` committed for ``app_id`` (None: none, or no table).

        Read from the table's snapshot (Delta's ``SetTransaction`` actions), without a Spark job.
        """
        location = self.location(table)
        if not DeltaTable.isDeltaTable(self.spark, location.location):
            return None
        found = self._snapshot(location).transactions().get(app_id)
        return int(found.get()) if found.isDefined() else None

    def overwrite_partition(
        self, table: str | TableName, frame: DataFrame, where: str, spec: TableSpec | None = None
    ) -> int:
        """Replace only the rows matching ``where`` (e.g. ``"order_date = '2026-11-25'"``).

        Delta checks that every written row matches ``where``, so a job cannot overwrite more
        than the slice it owns; rerunning a day replaces that day only.

        Args:
            spec: the table's declaration, to create it (partitions, comments) on first write.

        Returns:
            Rows written.
        """
        try:
            return self._write(table, frame, "overwrite", {"replaceWhere": where}, spec=spec)
        except Exception as error:  # Delta's constraint check raises a generic analysis error
            if not (
                isinstance(error, delta_errors.CapturedException)
                and error.getErrorClass() == "DELTA_REPLACE_WHERE_MISMATCH"
            ):
                raise
            raise PartitionOverwriteError(
                f"table {table}: some rows do not match replaceWhere `{where}`; nothing was written "
                "(give only the rows of that partition)"
            ) from error

    def optimize(self, table: str | TableName, zorder_by: Sequence[str] = ()) -> dict[str, int]:
        """Compact small files (and cluster them by ``zorder_by`` columns when given).

        Returns:
            ``files_added`` and ``files_removed``.
        """
        location = self._writable(table)
        self._existing(table)
        optimizer = DeltaTable.forPath(self.spark, location.location).optimize()
        action = (lambda: optimizer.executeZOrderBy(*zorder_by)) if zorder_by else optimizer.executeCompaction
        metrics = self._tagged(lambda: self._retrying("optimize", location, action)).first()["metrics"]
        return {
            "files_added": int(metrics["numFilesAdded"]),
            "files_removed": int(metrics["numFilesRemoved"]),
        }

    def vacuum(self, table: str | TableName, retention_hours: float | None = None) -> None:
        """Delete files that no version within the retention period needs.

        Args:
            retention_hours: defaults to the table's ``delta.deletedFileRetentionDuration``
                (Delta's default: 7 days).

        Raises:
            ValueError: a retention under 7 days, which could break readers and time travel
                still in progress (Delta's own retention guard, kept on).
        """
        if retention_hours is not None and retention_hours < DEFAULT_RETENTION_HOURS:
            raise ValueError(
                f"vacuum {table}: retention {retention_hours} h is under the {DEFAULT_RETENTION_HOURS} h "
                "guard; files that running readers or time travel still need would be deleted"
            )
        location = self._writable(table)
        self._existing(table)
        target = DeltaTable.forPath(self.spark, location.location)
        self._tagged(
            lambda: target.vacuum(retention_hours) if retention_hours is not None else target.vacuum()
        )

    def history(self, table: str | TableName, limit: int | None = None) -> DataFrame:
        """The table's commits, newest first (version, timestamp, operation, metrics, run tag)."""
        location = self._existing(table)
        target = DeltaTable.forPath(self.spark, location.location)
        return target.history(limit) if limit else target.history()

    def restore(self, table: str | TableName, version: int) -> None:
        """Return a table to an earlier version (a new commit; the history keeps both)."""
        location = self._writable(table)
        self._existing(table)
        target = DeltaTable.forPath(self.spark, location.location)
        self._tagged(lambda: self._retrying("restore", location, lambda: target.restoreToVersion(version)))

    def append(self, table: str | TableName, frame: DataFrame, spec: TableSpec | None = None) -> int:
        """Append rows to a table, creating it on first write.

        Args:
            spec: the table's declaration; its drift policy decides what happens to new columns
                (without one, new columns are refused).

        Returns:
            The number of rows written, from the Delta commit's metrics.

        Raises:
            SchemaDriftError: new columns under policy ``fail``, or a column whose type changed.
        """
        return self._write(table, frame, "append", spec=spec)

    def overwrite(self, table: str | TableName, frame: DataFrame, spec: TableSpec | None = None) -> int:
        """Replace a table's rows (its history stays and can be time-travelled).

        Args:
            spec: the table's declaration, to create it (key, comments) on first write.

        Returns:
            The number of rows written.
        """
        return self._write(table, frame, "overwrite", spec=spec)

    def version(self, table: str | TableName) -> int:
        """The latest Delta version of a table.

        Raises:
            TableNotFoundError: no Delta table at the table's location.
        """
        return self._version_at(self._existing(table))

    def null_counts(self, table: str | TableName, version: int, columns: Sequence[str]) -> dict[str, int]:
        """Rows, and nulls per column, of the files one commit added, from the Delta log's statistics.

        Reads one commit file, no data: Delta records each added file's row count and null
        counts (for the first ``delta.dataSkippingNumIndexedCols`` columns, 32 by default).

        Returns:
            ``{"numRecords": rows, column: nulls, ...}``; a column without statistics is left out.
        """
        location = self._existing(table)
        log_file = _commit_file(location, version)
        text = files.read_text(self.spark, log_file)
        if text is None:
            raise TableNotFoundError(f"table {location.table}: no commit {version} at {log_file}")
        totals: dict[str, int] = {"numRecords": 0}
        missing: set[str] = set()
        for line in text.splitlines():
            added = json.loads(line).get("add") if line.strip() else None
            if not added:
                continue
            stats = json.loads(added.get("stats") or "{}")
            totals["numRecords"] += int(stats.get("numRecords", 0))
            nulls = stats.get("nullCount", {})
            for column in columns:
                if isinstance(nulls.get(column), int):
                    totals[column] = totals.get(column, 0) + nulls[column]
                else:
                    missing.add(column)
        return {key: value for key, value in totals.items() if key not in missing}

    def summaries(self, layers: list[str] | None = None) -> list[TableSummary]:
        """Row count and latest version of every table on storage in the given layers."""
        summaries = []
        for location in list_tables(self.spark, self.layout, layers):
            rows = self.spark.read.format("delta").load(location.location).count()
            version = self._version_at(location)
            summaries.append(
                TableSummary(str(location.table), location.table.layer, location.location, rows, version)
            )
        return summaries

    def _existing(self, table: str | TableName) -> TableLocation:
        location = self.location(table)
        if not DeltaTable.isDeltaTable(self.spark, location.location):
            raise TableNotFoundError(
                f"table {location.table} does not exist at {location.location}; "
                "run the job that writes it first"
            )
        return location

    def _writable(self, table: str | TableName) -> TableLocation:
        location = self.location(table)
        if location.table.layer == INTERNAL_LAYER and not self.write_internal:
            raise TableNameError(
                f"table {location.table}: the {INTERNAL_LAYER} layer holds the lakehouse's own records "
                "and is written only by the framework; write to bronze, silver or gold"
            )
        return location

    def _write(
        self,
        table: str | TableName,
        frame: DataFrame,
        mode: str,
        options: dict[str, str] | None = None,
        spec: TableSpec | None = None,
    ) -> int:
        if not isinstance(frame, DataFrame):
            raise TypeError(f"expected a pyspark DataFrame to write to {table}, got {type(frame).__name__}")
        location = self._writable(table)
        exists = DeltaTable.isDeltaTable(self.spark, location.location)
        if spec is not None and not exists:
            self.create(spec)  # the declared schema, comments and properties, not the frame's
            exists = True
        before = self._version_at(location) if exists else -1
        if exists and mode == "append":
            self._check_drift(location, frame, spec)
        writer = frame.write.format("delta").mode(mode).options(**(options or {}))
        if exists and mode == "append" and spec is not None and spec.drift == "evolve":
            writer = writer.option("mergeSchema", "true")
        if self.commit_tag:
            writer = writer.option("userMetadata", json.dumps(self.commit_tag, sort_keys=True))
        # a conflict commits nothing, so writing the same frame again is safe
        self._retrying(f"{mode} write", location, lambda: writer.save(location.location))
        if self.layout.settings.catalog == "metastore":
            register_table(self.spark, location)
        commit = self._last_commit(location, after=before)
        # an idempotent append that Delta skipped makes no commit: nothing was written
        rows = int((commit["operationMetrics"] or {}).get("numOutputRows", 0)) if commit else 0
        self.last_commit_version = int(commit["version"]) if commit else None
        if self.on_write is not None:
            self.on_write(str(location.table), rows)
        return rows

    def _loaded_version(self, location: TableLocation) -> int:
        """The version of the snapshot Delta just loaded for ``location`` (from its cached log: no
        Spark job), or -1 when it cannot be told."""
        try:
            jvm = self.spark.sparkContext._jvm
            log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(
                self.spark._jsparkSession, location.location
            )
            return int(log.unsafeVolatileSnapshot().version())
        except Exception:  # lineage is best effort: never fail a read for it
            return -1

    def _snapshot(self, location: TableLocation) -> Any:
        """The table's latest Delta snapshot (JVM), its log brought up to date: the log's new
        files listed, no Spark job."""
        jvm = self.spark.sparkContext._jvm
        log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(self.spark._jsparkSession, location.location)
        return log.update(False, jvm.scala.Option.empty(), jvm.scala.Option.empty())

    def _version_at(self, location: TableLocation) -> int:
        """The table's latest version, from its snapshot (7 ms; ``history(1)`` took 160 ms)."""
        return int(self._snapshot(location).version())

    def _last_commit(self, location: TableLocation, after: int) -> dict[str, Any] | None:
        """This store's newest commit to the table made after version ``after``, or None, as
        ``{"version", "operationMetrics", "userMetadata"}`` read from the commit's file.

        Commits of concurrent writers are skipped by their tag; with no tag, the newest commit
        after ``after`` is taken. At most the 20 newest commits are looked at.
        """
        tag = json.dumps(self.commit_tag, sort_keys=True) if self.commit_tag else None
        latest = self._version_at(location)
        for version in range(latest, max(after, latest - 20), -1):  # newest first
            info = self._commit_info(location, version)
            if info is not None and (tag is None or info.get("userMetadata") == tag):
                return {
                    "version": version,
                    "operationMetrics": info.get("operationMetrics") or {},
                    "userMetadata": info.get("userMetadata"),
                }
        return None

    def _commit_info(self, location: TableLocation, version: int) -> dict[str, Any] | None:
        """The ``commitInfo`` action of one commit (None when its file or the action is missing)."""
        text = files.read_text(self.spark, _commit_file(location, version))
        for line in (text or "").splitlines():
            if '"commitInfo"' in line:
                action = json.loads(line)
                if "commitInfo" in action:
                    return action["commitInfo"]
        return None

    def _tagged(self, operation: Callable[[], Any]) -> Any:
        """Run a DeltaTable API operation with this store's commit tag as its userMetadata."""
        key = "spark.databricks.delta.commitInfo.userMetadata"
        if not self.commit_tag:
            return operation()
        with _TAG_LOCK:
            previous = self.spark.conf.get(key, None)
            self.spark.conf.set(key, json.dumps(self.commit_tag, sort_keys=True))
            try:
                return operation()
            finally:
                if previous is None:
                    self.spark.conf.unset(key)
                else:
                    self.spark.conf.set(key, previous)

    def _check_drift(self, location: TableLocation, frame: DataFrame, spec: TableSpec | None) -> None:
        """Refuse new or retyped columns unless the table's drift policy allows them."""
        current = {
            field.name: field.dataType
            for field in self.spark.read.format("delta").load(location.location).schema
        }
        added = [field.name for field in frame.schema if field.name not in current]
        changed = [
            f"{field.name}: {current[field.name].simpleString()} -> {field.dataType.simpleString()}"
            for field in frame.schema
            if field.name in current and field.dataType != current[field.name]
        ]
        policy = spec.drift if spec is not None else "fail"
        if changed or (added and policy == "fail"):
            raise SchemaDriftError(str(location.table), added, changed, policy)

    def _retrying(self, operation: str, location: TableLocation, action: Callable[[], Any]) -> Any:
        """Run an operation that is safe to repeat, retrying on a concurrent-write conflict."""
        for attempt in range(1, RETRIES + 1):
            try:
                return action()
            except CONFLICTS as conflict:
                if attempt == RETRIES:
                    raise ConcurrentWriteError(
                        f"table {location.table}: {operation} conflicted with another writer "
                        f"{RETRIES} times ({type(conflict).__name__}); rerun it when the other writer is done"
                    ) from conflict
                log.warning(
                    "%s on %s conflicted (%s); retry %d", operation, location.table, conflict, attempt
                )
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")


def _commit_file(location: TableLocation, version: int) -> str:
    """The Delta log file of one commit of the table at ``location``."""
    return f"{location.location.rstrip('/')}/_delta_log/{version:020d}.json"


def bookkeeping_store(
    spark: SparkSession, layout: StorageLayout, writer: str, run_id: str | None = None, job: str | None = None
) -> DeltaStore:
    """The store through which the framework writes its own records (the ``ops`` layer: run
    records, the ingest ledger, table progress, quality results), the one place such a store is
    made: the internal layer writable, and each commit tagged with the writer, and the run and
    job when there is one (``DESCRIBE HISTORY`` tells who wrote what)."""
    tag = {"run_id": run_id, "job": job, "writer": writer}
    return DeltaStore(spark, layout, {k: v for k, v in tag.items() if v is not None}, write_internal=True)

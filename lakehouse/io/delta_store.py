"""Delta table I/O: the one place that reads and writes lakehouse tables.

Jobs and transformations never call ``DataFrame.write`` themselves; they hand a DataFrame
and a table name (``silver.orders``) to a :class:`DeltaStore`, which resolves the location,
checks the schema against the table's drift policy, writes, tags the commit with the run and
reports rows written. Operations: create from a :class:`TableSpec`, append, idempotent
append, MERGE upsert, overwrite, read as of a version or timestamp, history and restore.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from delta.exceptions import DeltaConcurrentModificationException
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from lakehouse.errors import ConcurrentWriteError, SchemaDriftError, TableNameError, TableNotFoundError
from lakehouse.io.table_spec import TableSpec
from lakehouse.storage.catalog import list_tables, register_table
from lakehouse.storage.layout import StorageLayout, TableLocation, TableName
from lakehouse.transforms.keys import latest_per_key

log = logging.getLogger(__name__)
RETRIES = 3

INTERNAL_LAYER = "ops"


@dataclass(frozen=True)
class TableSummary:
    """One row of ``lakehouse tables``: a table's size and latest Delta version."""

    table: str
    layer: str
    location: str
    rows: int
    version: int


class DeltaStore:
    """Read and write the Delta tables of one lakehouse.

    Args:
        spark: the session to use.
        layout: resolves table names to locations.
        commit_tag: JSON-able facts stored in each commit's ``userMetadata`` (run id, job),
            so that ``DESCRIBE HISTORY`` tells which run wrote which version.
        on_write: called with ``(table name, rows written)`` after each write; the job
            runner uses it to record rows written per table.
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
    ):
        self.spark = spark
        self.layout = layout
        self.commit_tag = dict(commit_tag or {})
        self.on_write = on_write
        self.write_internal = write_internal

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
        return reader.load(location.location)

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
        self._retrying("create", location, builder.execute)
        return True

    def append_once(self, table: str | TableName, frame: DataFrame, app_id: str, version: int) -> int:
        """Append a batch exactly once, whatever the number of retries or reruns.

        Delta records ``(app_id, version)`` in the same commit as the rows (``txnAppId`` /
        ``txnVersion``) and skips any later write whose version is not greater: a rerun of a
        batch, even after a crash between the commit and its bookkeeping, writes nothing twice.

        Args:
            app_id: the writer's stable id (e.g. ``bronze_ingest:orders``).
            version: the batch number; must grow from batch to batch for the same ``app_id``.

        Returns:
            Rows written; 0 when the batch was already committed.
        """
        if version < 0:
            raise ValueError(f"append_once {table}: version must be >= 0, got {version}")
        return self._write(table, frame, "append", {"txnAppId": app_id, "txnVersion": str(version)})

    def merge(
        self,
        table: str | TableName,
        frame: DataFrame,
        keys: Sequence[str],
        order_by: str | None = None,
        spec: TableSpec | None = None,
    ) -> dict[str, int]:
        """Upsert rows by key: update matching rows, insert new ones.

        The source is first reduced to one row per key (greatest ``order_by`` wins), so a batch
        holding several versions of a key never fails the MERGE. With ``order_by``, a source
        row older than the table's row leaves it alone, so a late-arriving stale update cannot
        undo a newer one. Safe to retry: it is retried on a concurrent-write conflict.

        Returns:
            Delta's metrics: ``inserted``, ``updated`` and ``source_rows`` (after deduplication).
        """
        location = self._writable(table)
        latest = latest_per_key(frame, keys, order_by)
        if not DeltaTable.isDeltaTable(self.spark, location.location):
            if spec is not None:
                self.create(spec)
            else:
                inserted = self._write(table, latest, "append")
                return {"inserted": inserted, "updated": 0, "source_rows": inserted}
        self._check_drift(location, latest, spec)

        def run_merge() -> None:
            condition = " AND ".join(f"target.`{key}` <=> source.`{key}`" for key in keys)
            builder = (
                DeltaTable.forPath(self.spark, location.location)
                .alias("target")
                .merge(latest.alias("source"), condition)
            )
            if spec is not None and spec.drift == "evolve":
                builder = builder.withSchemaEvolution()
            newer = (
                f"source.`{order_by}` >= target.`{order_by}` OR target.`{order_by}` IS NULL"
                if order_by
                else None
            )
            builder.whenMatchedUpdateAll(condition=newer).whenNotMatchedInsertAll().execute()

        self._tagged(lambda: self._retrying("merge", location, run_merge))
        metrics = self._last_commit(location)["operationMetrics"] or {}
        result = {
            "inserted": int(metrics.get("numTargetRowsInserted", 0)),
            "updated": int(metrics.get("numTargetRowsUpdated", 0)),
            "source_rows": int(metrics.get("numSourceRows", 0)),
        }
        if self.on_write is not None:
            self.on_write(str(location.table), result["inserted"] + result["updated"])
        return result

    def history(self, table: str | TableName, limit: int | None = None) -> DataFrame:
        """The table's commits, newest first (version, timestamp, operation, metrics, run tag)."""
        location = self._existing(table)
        target = DeltaTable.forPath(self.spark, location.location)
        return target.history(limit) if limit else target.history()

    def restore(self, table: str | TableName, version: int) -> None:
        """Return a table to an earlier version (a new commit; the history keeps both)."""
        location = self._writable(table)
        self._existing(table)
        self._retrying(
            "restore",
            location,
            lambda: DeltaTable.forPath(self.spark, location.location).restoreToVersion(version),
        )

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

    def overwrite(self, table: str | TableName, frame: DataFrame) -> int:
        """Replace a table's rows (its history stays and can be time-travelled).

        Returns:
            The number of rows written.
        """
        return self._write(table, frame, "overwrite")

    def version(self, table: str | TableName) -> int:
        """The latest Delta version of a table.

        Raises:
            TableNotFoundError: no Delta table at the table's location.
        """
        location = self._existing(table)
        return int(DeltaTable.forPath(self.spark, location.location).history(1).collect()[0]["version"])

    def summaries(self, layers: list[str] | None = None) -> list[TableSummary]:
        """Row count and latest version of every table on storage in the given layers."""
        summaries = []
        for location in list_tables(self.spark, self.layout, layers):
            rows = self.spark.read.format("delta").load(location.location).count()
            version = self.version(location.table)
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
        before = self._version_at(location) if exists else -1
        if exists and mode == "append":
            self._check_drift(location, frame, spec)
        writer = frame.write.format("delta").mode(mode).options(**(options or {}))
        if exists and mode == "append" and spec is not None and spec.drift == "evolve":
            writer = writer.option("mergeSchema", "true")
        if self.commit_tag:
            writer = writer.option("userMetadata", json.dumps(self.commit_tag, sort_keys=True))
        writer.save(location.location)
        if self.layout.settings.catalog == "metastore":
            register_table(self.spark, location)
        commit = self._last_commit(location)
        # an idempotent append that Delta skipped makes no commit: nothing was written
        rows = (
            int((commit["operationMetrics"] or {}).get("numOutputRows", 0))
            if commit["version"] > before
            else 0
        )
        if self.on_write is not None:
            self.on_write(str(location.table), rows)
        return rows

    def _version_at(self, location: TableLocation) -> int:
        return int(DeltaTable.forPath(self.spark, location.location).history(1).collect()[0]["version"])

    def _last_commit(self, location: TableLocation) -> Any:
        """This store's latest commit to the table (commits of concurrent writers skipped)."""
        history = DeltaTable.forPath(self.spark, location.location).history(10).collect()
        tag = json.dumps(self.commit_tag, sort_keys=True) if self.commit_tag else None
        for commit in history:  # newest first
            if tag is None or commit["userMetadata"] == tag:
                return commit
        return history[0]

    def _tagged(self, operation: Callable[[], Any]) -> Any:
        """Run a DeltaTable API operation with this store's commit tag as its userMetadata."""
        key = "spark.databricks.delta.commitInfo.userMetadata"
        if not self.commit_tag:
            return operation()
        self.spark.conf.set(key, json.dumps(self.commit_tag, sort_keys=True))
        try:
            return operation()
        finally:
            self.spark.conf.unset(key)

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
            except DeltaConcurrentModificationException as conflict:
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

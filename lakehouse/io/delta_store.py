"""Delta table I/O: the one place that reads and writes lakehouse tables.

Jobs and transformations never call ``DataFrame.write`` themselves; they hand a DataFrame
and a table name (``silver.orders``) to a :class:`DeltaStore`, which resolves the location,
writes, keeps the catalog in step, tags the commit with the run and reports rows written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from lakehouse.errors import TableNameError, TableNotFoundError
from lakehouse.storage.catalog import list_tables, register_table
from lakehouse.storage.layout import StorageLayout, TableLocation, TableName

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

    def read(self, table: str | TableName, version: int | None = None) -> DataFrame:
        """Read a table, optionally as of a Delta version.

        Raises:
            TableNotFoundError: no Delta table at the table's location.
        """
        location = self._existing(table)
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(location.location)

    def append(self, table: str | TableName, frame: DataFrame) -> int:
        """Append rows to a table, creating it on first write.

        Returns:
            The number of rows written, from the Delta commit's metrics.
        """
        return self._write(table, frame, "append")

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

    def _write(self, table: str | TableName, frame: DataFrame, mode: str) -> int:
        if not isinstance(frame, DataFrame):
            raise TypeError(f"expected a pyspark DataFrame to write to {table}, got {type(frame).__name__}")
        location = self.location(table)
        if location.table.layer == INTERNAL_LAYER and not self.write_internal:
            raise TableNameError(
                f"table {location.table}: the {INTERNAL_LAYER} layer holds the lakehouse's own records "
                "and is written only by the framework; write to bronze, silver or gold"
            )
        writer = frame.write.format("delta").mode(mode)
        if self.commit_tag:
            writer = writer.option("userMetadata", json.dumps(self.commit_tag, sort_keys=True))
        writer.save(location.location)
        if self.layout.settings.catalog == "metastore":
            register_table(self.spark, location)
        rows = self._rows_of_last_commit(location)
        if self.on_write is not None:
            self.on_write(str(location.table), rows)
        return rows

    def _rows_of_last_commit(self, location: TableLocation) -> int:
        """Rows written by this store's latest commit to the table, read from Delta's metrics."""
        history = DeltaTable.forPath(self.spark, location.location).history(10).collect()
        tag = json.dumps(self.commit_tag, sort_keys=True) if self.commit_tag else None
        for commit in history:  # newest first; skip commits of concurrent writers
            if tag is None or commit["userMetadata"] == tag:
                return int((commit["operationMetrics"] or {}).get("numOutputRows", 0))
        return 0

"""Ingest a database table or query into a bronze table, incrementally by a watermark column.

Each run reads the rows whose watermark (e.g. ``updated_at``) is above the highest one already
in bronze and at most the source's current maximum, so a row changed since the last
successful run is read once. The low end comes from the bronze table itself, so it moves
only when rows are committed: a failed or killed run leaves it where it was. The append is
idempotent (``txnVersion`` = the table version the run planned against + 1), so two runs that
planned the same range write it once.

Rows committed in the source with a watermark lower than one already ingested (a long
transaction that commits late) are not seen; give such sources a watermark the database
sets at commit time.
"""

from __future__ import annotations

import datetime as dt
import logging

from pyspark.sql import functions as F

from lakehouse.config.model import LakehouseConfig
from lakehouse.config.sources import SourceSettings
from lakehouse.errors import IngestError
from lakehouse.ingest import metadata
from lakehouse.ingest.result import IngestResult
from lakehouse.io import jdbc
from lakehouse.io.delta_store import DeltaStore

log = logging.getLogger(__name__)


class DatabaseIngest:
    """The ingest of one JDBC source into its bronze table (see the module docstring)."""

    def __init__(
        self,
        tables: DeltaStore,
        config: LakehouseConfig,
        run_id: str,
        name: str,
        settings: SourceSettings,
        table: str,
    ):
        self.tables, self.run_id = tables, run_id
        self.name = name
        self.settings = settings
        self.table = table
        self.connection = jdbc.JdbcConnection.from_config(config, settings.connection or "")

    def run(self) -> IngestResult:
        """Append the rows changed since the last run; return what was written."""
        spark, tables, settings = self.tables.spark, self.tables, self.settings
        result = IngestResult(self.name, self.table)
        options = {"pushDownAggregate": "true", **settings.options}
        source = jdbc.read(
            spark, self.connection, dbtable=settings.dbtable, query=settings.query, options=options
        )
        watermark = self._column(source.columns, settings.watermark or "")
        version = tables.version(self.table) if tables.exists(self.table) else -1
        low = None
        if version >= 0:
            ingested = tables.read(self.table, version=version)
            if watermark in ingested.columns:
                low = ingested.agg(F.max(watermark)).first()[0]
        high = source.agg(F.max(watermark)).first()[0]
        what = settings.dbtable or f"({settings.query})"
        if high is None or (low is not None and high <= low):
            result.detail = f"no rows of {what} with {watermark} above {low}"
            log.info("source %s: %s", self.name, result.detail)
            return result
        changed = source.where(F.col(watermark) <= F.lit(high))
        if low is not None:
            changed = changed.where(F.col(watermark) > F.lit(low))
        since = f"{watermark} > {low} AND " if low is not None else ""  # None: the first load
        result.detail = f"{what} WHERE {since}{watermark} <= {high}"
        frame = metadata.with_ingest_metadata(
            changed,
            self.name,
            F.lit(f"SELECT * FROM {result.detail}"),
            metadata.SOURCE_QUERY,
            self.run_id,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )
        spec = metadata.bronze_spec(
            self.table,
            frame.schema,
            f"Raw rows of source {self.name}: {what} of {self.connection.describe()}",
            settings.drift,
        )
        # planned against `version`: a second run that planned the same range writes nothing
        result.rows = tables.append_once(
            self.table, frame, f"bronze_ingest:{self.name}", version + 1, spec=spec
        )
        log.info("source %s: %d rows (%s) -> %s", self.name, result.rows, result.detail, self.table)
        return result

    def _column(self, columns: list[str], wanted: str) -> str:
        for column in columns:
            if column.lower() == wanted.lower():
                return column
        raise IngestError(
            f"source {self.name}: watermark column {wanted!r} is not in "
            f"{self.settings.dbtable or 'the query'} of {self.connection.describe()}; "
            f"its columns: {', '.join(columns)}"
        )

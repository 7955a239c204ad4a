"""Ingest landed files (CSV, JSON lines, Parquet) into a bronze table, each file exactly once.

A Structured Streaming file source with a checkpoint and ``trigger(availableNow=True)``
decides which files are new: Spark records the files of each micro-batch in the checkpoint
before the batch runs, and a restarted query reruns an unfinished batch with the same files.
Each batch is written with Delta's idempotent append (``txnAppId`` = the query's id,
``txnVersion`` = the batch id), so a batch committed just before a crash is not written again
when it reruns. Together: every landed file reaches bronze once, across reruns and crashes.

The batch function reads the batch's files itself, so that it can first compare the files'
columns with the table's (CSV headers, JSON keys, Parquet footers) and apply the source's
drift policy, then read CSV by header name rather than by position, and record each row's file.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import SourceSettings
from lakehouse.errors import IngestError, SchemaDriftError, SourceFolderNotFoundError
from lakehouse.ingest import metadata
from lakehouse.ingest.result import IngestResult
from lakehouse.ingest.schema import conform, declared_schema, evolved, parse_header, plan_header
from lakehouse.io import files as landed
from lakehouse.runs.context import JobContext

log = logging.getLogger(__name__)

# Options of the file source that decide which files are picked; every other option is for reading.
TRACKING_OPTIONS = frozenset(
    {
        "pathGlobFilter",
        "recursiveFileLookup",
        "maxFileAge",
        "latestFirst",
        "fileNameOnly",
        "cleanSource",
        "sourceArchiveDir",
        "modifiedBefore",
        "modifiedAfter",
    }
)
# Spark's default (7 days) would skip a late file whose timestamp is a week older than the newest.
DEFAULT_MAX_FILE_AGE = "36500d"


class FileIngest:
    """The ingest of one file source into its bronze table (see the module docstring)."""

    def __init__(self, context: JobContext, name: str, settings: SourceSettings, table: str):
        self.context = context
        self.spark = context.spark
        self.name = name
        self.settings = settings
        self.table = table
        path = settings.path or ""
        self.path = path if "://" in path or path.startswith("/") else context.layout.files_location(path)
        self.checkpoint = landed.StreamCheckpoint(
            self.spark, context.layout.files_location("checkpoints", "bronze_ingest", name)
        )
        self.options = {key: str(value) for key, value in settings.options.items()}
        if settings.format == "csv":
            self.options.setdefault("header", "true")
        self.read_options = {k: v for k, v in self.options.items() if k not in TRACKING_OPTIONS}
        self.ingested_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.known = self._known_columns()
        self.result = IngestResult(name, table)
        self._app_id: str | None = None

    def run(self) -> IngestResult:
        """Ingest every file not ingested yet.

        Returns:
            What was written: rows, files, malformed rows, new columns (all 0 for an empty folder).

        Raises:
            SourceFolderNotFoundError: the source's folder does not exist.
            SchemaDriftError: a file brings columns that the source's drift policy refuses.
            IngestError: the file stream failed.
        """
        if not landed.exists(self.spark, self.path):
            # a typo in a path must not pass for "nothing new": only an existing folder can be empty
            raise SourceFolderNotFoundError(self.name, self.path)
        tracking = {k: v for k, v in self.options.items() if k in TRACKING_OPTIONS}
        tracking.setdefault("recursiveFileLookup", "true")
        tracking.setdefault("maxFileAge", DEFAULT_MAX_FILE_AGE)
        if self.settings.max_files_per_batch:
            tracking["maxFilesPerTrigger"] = str(self.settings.max_files_per_batch)
        # the stream only picks files: its rows are never read ("text" needs no schema)
        stream = self.spark.readStream.format("text").options(**tracking).load(self.path)
        failure: list[BaseException] = []

        def ingest_batch(_: DataFrame, batch_id: int) -> None:
            try:
                self._ingest_batch(batch_id)
            except BaseException as error:  # kept: Spark wraps it in a StreamingQueryException
                failure.append(error)
                raise

        query = (
            stream.writeStream.foreachBatch(ingest_batch)
            .option("checkpointLocation", self.checkpoint.location)
            .queryName(f"bronze_ingest_{self.name}")
            .trigger(availableNow=True)
            .start()
        )
        try:
            query.awaitTermination()
        except Exception as error:
            if failure:
                raise failure[0] from None
            raise IngestError(f"source {self.name}: the file stream failed: {error}") from error
        self.result.detail = f"{self.result.files} files from {self.path}"
        return self.result

    def _known_columns(self) -> T.StructType:
        """The declared columns, then any column an earlier run added (drift ``evolve``)."""
        known = declared_schema(self.settings.columns)
        if self.context.tables.exists(self.table):
            table_columns = metadata.data_columns(self.context.tables.read(self.table).schema)
            known = evolved(
                known,
                [f.name for f in table_columns.fields],
                {f.name: f.dataType for f in table_columns.fields},
            )
        return known

    def _ingest_batch(self, batch_id: int) -> None:
        files = self.checkpoint.batch_files(batch_id)
        if not files:
            return
        if self._app_id is None:
            self._app_id = f"bronze_ingest:{self.name}:{self.checkpoint.query_id()}"
        frame = self._read(files)
        self.result.files += len(files)
        if frame is None:  # only empty files
            return
        spec = metadata.bronze_spec(
            self.table,
            frame.schema,
            f"Raw rows of source {self.name}: {self.settings.format} files landed in {self.path}",
            self.settings.drift,
        )
        tables = self.context.tables
        rows = tables.append_once(self.table, frame, self._app_id, batch_id, spec=spec)
        self.result.rows += rows
        if rows and metadata.CORRUPT in frame.columns and tables.last_commit_version is not None:
            self.result.malformed += self._malformed(tables.last_commit_version)
        log.info(
            "source %s: batch %d: %d files, %d rows -> %s", self.name, batch_id, len(files), rows, self.table
        )

    def _read(self, files: Sequence[str]) -> DataFrame | None:
        """Read one batch's files as rows of the table: known columns, corrupt line, metadata."""
        file_format = self.settings.format
        if file_format == "csv" and self.options.get("header", "true").lower() == "true":
            frames = [
                self._finish(landed.read_files(self.spark, "csv", group, schema, self.read_options))
                for schema, group in self._csv_groups(files)
            ]
            return _union(frames) if frames else None
        if file_format == "parquet":
            found = landed.parquet_schema(self.spark, files)
            if not self.known.fields and not self.context.tables.exists(self.table):
                self.known = found  # the first files define an undeclared Parquet source
            self._allow_new([f.name for f in found.fields], {f.name: f.dataType for f in found.fields}, files)
            return self._finish(landed.read_files(self.spark, "parquet", files, None, self.read_options))
        if file_format == "json":
            keys = landed.json_keys(self.spark, files)
            self._allow_new(sorted(keys - {metadata.CORRUPT}), {}, files)
        # JSON, and CSV without a header: the known columns, by name (JSON) or position (CSV)
        schema = T.StructType([*self.known.fields, T.StructField(metadata.CORRUPT, T.StringType())])
        return self._finish(landed.read_files(self.spark, file_format, files, schema, self.read_options))

    def _csv_groups(self, files: Sequence[str]) -> list[tuple[T.StructType, list[str]]]:
        """Group CSV files by header; each group is read with a schema in its header's order."""
        separator = self.options.get("sep", self.options.get("delimiter", ","))
        quote = self.options.get("quote", '"') or '"'
        by_header: dict[tuple[str, ...], list[str]] = {}
        for path, line in landed.first_lines(self.spark, files).items():
            if line is None:
                log.info("source %s: %s is empty", self.name, path)
                continue
            by_header.setdefault(tuple(parse_header(line, separator, quote)), []).append(path)
        groups = []
        for header, group in by_header.items():
            try:
                plan = plan_header(header, self.known)
            except ValueError as error:
                raise IngestError(f"source {self.name}: file {group[0]}: bad CSV header: {error}") from None
            # new columns are strings both in the plan and once evolved, so the plan stays valid
            self._allow_new(list(plan.new_columns), {}, group)
            schema = T.StructType([*plan.schema.fields, T.StructField(metadata.CORRUPT, T.StringType())])
            groups.append((schema, group))
        return groups

    def _allow_new(self, columns: Sequence[str], types: dict[str, T.DataType], files: Sequence[str]) -> None:
        """Apply the drift policy to columns the files have: evolve adds them, fail refuses."""
        known = {f.name.lower() for f in self.known.fields}
        new = [name for name in columns if name.lower() not in known]
        if not new:
            return
        if self.settings.drift == "fail":
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
            raise SchemaDriftError(self.table, new, [], "fail", where=f" in source {self.name} files {shown}")
        log.warning("source %s: new columns %s evolve table %s", self.name, new, self.table)
        self.known = evolved(self.known, new, types)
        self.result.new_columns += [name for name in new if name not in self.result.new_columns]

    def _finish(self, raw: DataFrame) -> DataFrame:
        """Add the metadata (the file from Spark's ``_metadata``) and put columns in table order."""
        with_metadata = metadata.with_ingest_metadata(
            raw,
            self.name,
            F.col("_metadata.file_path"),
            metadata.SOURCE_FILE,
            self.context.run_id,
            self.ingested_at,
        )
        corrupt = [T.StructField(metadata.CORRUPT, T.StringType())] if metadata.CORRUPT in raw.columns else []
        extra = [metadata.SOURCE, metadata.SOURCE_FILE, metadata.INGESTED_AT, metadata.RUN_ID]
        return conform(with_metadata, T.StructType([*self.known.fields, *corrupt]), extra)

    def _malformed(self, version: int) -> int:
        """Rows of one commit with a ``_corrupt_record``: from the commit's statistics when it has
        them (no data read), else by counting this run's malformed rows before and after it."""
        tables = self.context.tables
        counts = tables.null_counts(self.table, version, [metadata.CORRUPT])
        if metadata.CORRUPT in counts:
            return counts["numRecords"] - counts[metadata.CORRUPT]
        malformed = (F.col(metadata.RUN_ID) == self.context.run_id) & F.col(metadata.CORRUPT).isNotNull()
        before = tables.read(self.table, version=version - 1) if version > 0 else None
        earlier = 0
        if before is not None and metadata.CORRUPT in before.columns:
            earlier = before.where(malformed).count()
        return tables.read(self.table, version=version).where(malformed).count() - earlier


def _union(frames: list[DataFrame]) -> DataFrame:
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame, allowMissingColumns=True)
    return result

"""Ingest landed files (CSV, JSON lines, Parquet) into a bronze table, each file exactly once.

The source's folder is listed (Spark's file index: in parallel, no content read) and compared
with ``ops.ingested_files``, which records every file ingested by its path relative to the
folder (see :mod:`lakehouse.ingest.ledger`): a lost or moved checkpoint cannot duplicate a file,
because there is none, and a lakehouse copied elsewhere keeps its history. New files go in
batches (``max_files_per_batch``); each batch is claimed in the ledger, appended to bronze with
Delta's idempotent append and then settled, so a run killed at any point is finished by the
next one without writing anything twice.

Each batch's files are read here, so that their columns can first be compared with the table's
(CSV headers, JSON keys, Parquet footers) under the source's drift policy, CSV read by header
name rather than position, and each row's file recorded. A file that cannot be read at all (a
binary "header", column names Delta refuses, a line above ``max_record_bytes``, a footer that
does not parse, columns the drift policy refuses) is set aside in ``ops.rejected_files`` with
its reason, and the batch goes on without it: a source never stays stuck on one file.
"""

from __future__ import annotations

import codecs
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.sources import SourceSettings
from lakehouse.errors import (
    FilesRejectedError,
    IngestError,
    LakehouseError,
    SchemaDriftError,
    SourceFolderNotFoundError,
    first_line,
)
from lakehouse.ingest import metadata
from lakehouse.ingest.ledger import Claim, FileLedger, LandedFile, app_id
from lakehouse.ingest.result import IngestResult
from lakehouse.ingest.schema import (
    conform,
    declared_schema,
    evolved,
    flag_undecodable,
    parse_header,
    plan_header,
    unstorable_names,
)
from lakehouse.io import files as landed
from lakehouse.runs.context import JobContext

log = logging.getLogger(__name__)

# Options that decide which files are listed; every other option is for reading.
LISTING_OPTIONS = frozenset({"pathGlobFilter", "recursiveFileLookup", "modifiedBefore", "modifiedAfter"})


@dataclass
class ReadPlan:
    """How one batch's files are read: CSV groups by header (each with its schema), or the files."""

    files: list[str] = field(default_factory=list)  # paths to read (CSV: every group's files)
    csv_groups: list[tuple[T.StructType, list[str]]] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # path -> why it is set aside
    empty: list[str] = field(default_factory=list)  # files with nothing in them: ingested as they are
    refused: set[str] = field(default_factory=set)  # paths the drift policy refuses: tried again next run


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
        self.options = {key: str(value) for key, value in settings.options.items()}
        if settings.format == "csv":
            self.options.setdefault("header", "true")
        if settings.format in ("csv", "json") and codecs.lookup(settings.encoding).name != "utf-8":
            # only another character set is named: Spark's readers default to UTF-8, and JSON given
            # any encoding (even UTF-8) decodes through a character stream (1 GiB: 4.5 s, not 3.9 s)
            self.options.setdefault("encoding", settings.encoding)
        self.read_options = {k: v for k, v in self.options.items() if k not in LISTING_OPTIONS}
        self.ingested_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.known = self._known_columns()
        self.result = IngestResult(name, table)
        self.ledger = FileLedger(self.spark, context.layout, name, table, context.run_id)
        self.rejected: dict[str, str] = {}  # relative path -> reason, this run
        self._drift: SchemaDriftError | None = (
            None  # the last refusal, raised when only drift set files aside
        )

    def run(self) -> IngestResult:
        """Ingest every landed file not ingested yet; finish batches a killed run left unsettled.

        Returns:
            What was written: rows, files, malformed rows, new columns (all 0 for an empty folder).

        Raises:
            SourceFolderNotFoundError: the source's folder does not exist.
            SchemaDriftError: files bring columns that the drift policy refuses (set aside; the
                other files were ingested).
            FilesRejectedError: files could not be read (set aside; the others were ingested).
        """
        if not landed.exists(self.spark, self.path):
            # a typo in a path must not pass for "nothing new": only an existing folder can be empty
            raise SourceFolderNotFoundError(self.name, self.path)
        listing = {k: v for k, v in self.options.items() if k in LISTING_OPTIONS}
        listed = landed.list_files(self.spark, self.path, listing).cache()
        try:
            any_settled, unsettled = self.ledger.state()
            if not any_settled:
                self._record_earlier_ingests(listed)
            for claim in unsettled:
                self._finish_claim(claim, listed)
            new = self._new_files(listed)
        finally:
            listed.unpersist()
        size = self.settings.max_files_per_batch or max(len(new), 1)
        for batch, start in enumerate(range(0, len(new), size)):
            self._ingest_new(new[start : start + size], batch)
        self.result.detail = f"{self.result.files} files from {self.path}"
        if self.rejected:
            self.result.rejected = dict(self.rejected)
            raise FilesRejectedError(self.name, self.rejected)
        if self._drift is not None:
            raise self._drift
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

    def _new_files(self, listed: DataFrame) -> list[LandedFile]:
        """Listed files neither ingested nor set aside as they are now, oldest first."""
        new = listed
        known, rejected = self.ledger.known(), self.ledger.rejected()
        if known is not None:
            new = new.join(known, "file", "left_anti")
        if rejected is not None:
            new = new.join(rejected, ["file", "size", "modified_at"], "left_anti")
        rows = new.orderBy("modified_at", "file").collect()
        return [LandedFile(row["path"], row["file"], int(row["size"]), row["modified_at"]) for row in rows]

    def _record_earlier_ingests(self, listed: DataFrame) -> None:
        """A bronze table ingested before the ledger existed (or whose ledger was lost): record
        the files its rows came from, so that they are not ingested again."""
        if not self.context.tables.exists(self.table):
            return
        bronze = self.context.tables.read(self.table)
        if metadata.SOURCE_FILE not in bronze.columns or bronze.isEmpty():
            return
        recorded = self.ledger.record_from_bronze(listed, bronze.select(metadata.SOURCE_FILE))
        log.warning(
            "source %s: ops.ingested_files had no record of it; %d files found in %s recorded as ingested",
            self.name,
            recorded,
            self.table,
        )

    def _finish_claim(self, claim: Claim, listed: DataFrame) -> None:
        """Settle a batch a killed run claimed: recorded if bronze has it, else ingested again
        under the same idempotent-append id (skipped if it committed meanwhile)."""
        writer = app_id(self.name, claim.run_id)
        committed = self.context.tables.committed_batch(self.table, writer)
        if committed is not None and committed >= claim.batch:
            self.ledger.settle(claim.run_id, claim.batch, None)
            log.info(
                "source %s: batch %d of run %s was committed; recorded", self.name, claim.batch, claim.run_id
            )
            return
        rows = listed.where(F.col("file").isin(list(claim.files))).collect()
        present = [LandedFile(r["path"], r["file"], int(r["size"]), r["modified_at"]) for r in rows]
        gone = set(claim.files) - {f.file for f in present}
        if gone:
            log.warning(
                "source %s: claimed files %s are gone; their claims are dropped", self.name, sorted(gone)
            )
            self.ledger.release(claim.run_id, claim.batch, gone)
        log.warning(
            "source %s: batch %d of run %s stopped before it was recorded; ingesting its %d files",
            self.name,
            claim.batch,
            claim.run_id,
            len(present),
        )
        self._write_batch(present, claim.run_id, claim.batch)

    def _ingest_new(self, files: Sequence[LandedFile], batch: int) -> None:
        """Check, claim, write and settle one batch of new files."""
        plan = self._plan([f.path for f in files])
        self._set_aside([f for f in files if f.path in plan.rejected], plan.rejected, None, batch)
        readable = [f for f in files if f.path in plan.files or f.path in plan.empty]
        if not readable:
            return
        mine = self.ledger.claim(readable, batch)
        taken = [f.file for f in readable if f.file not in mine]
        if taken:
            log.warning("source %s: files %s were claimed by another run meanwhile", self.name, taken)
        # the plan stands for exactly the claimed files unless files went aside or to others
        ready = plan if not (taken or plan.rejected or plan.refused) else None
        self._write_batch([f for f in readable if f.file in mine], self.context.run_id, batch, ready)

    def _write_batch(
        self, files: Sequence[LandedFile], run_id: str, batch: int, plan: ReadPlan | None = None
    ) -> None:
        """Read and append a claimed batch, then settle it; files that fail to read are set aside
        (claims dropped) and the rest written.

        Args:
            plan: the plan of exactly ``files``, when the caller has just made it (not made again).
        """
        remaining = list(files)
        while remaining:
            if plan is None:
                plan = self._plan([f.path for f in remaining])
            if plan.rejected or plan.refused:
                aside = [f for f in remaining if f.path in plan.rejected]
                self._set_aside(aside, plan.rejected, run_id, batch)
                refused = [f.file for f in remaining if f.path in plan.refused]
                self.ledger.release(run_id, batch, refused)
                remaining = [f for f in remaining if f.path in plan.files or f.path in plan.empty]
                plan = None
                continue
            try:
                self._append(plan, run_id, batch)
            except LakehouseError:
                raise
            except Exception as error:  # a file Spark cannot read: find it, set it aside, go on
                reasons = self._unreadable(remaining)
                if not reasons:
                    raise IngestError(
                        f"source {self.name}: writing {len(remaining)} files to {self.table} failed: "
                        f"{_first_line(error)}"
                    ) from error
                self._set_aside([f for f in remaining if f.path in reasons], reasons, run_id, batch)
                remaining = [f for f in remaining if f.path not in reasons]
                plan = None
                continue
            self.result.files += len(remaining)
            self.ledger.settle(run_id, batch, self.context.tables.last_commit_version)
            return

    def _append(self, plan: ReadPlan, run_id: str, batch: int) -> None:
        frame = self._read(plan)
        if frame is None:  # only empty files
            return
        spec = metadata.bronze_spec(
            self.table,
            frame.schema,
            f"Raw rows of source {self.name}: {self.settings.format} files landed in {self.path}",
            self.settings.drift,
        )
        tables = self.context.tables
        tables.last_commit_version = None
        rows = tables.append_once(self.table, frame, app_id(self.name, run_id), batch, spec=spec)
        self.result.rows += rows
        if rows and metadata.CORRUPT in frame.columns and tables.last_commit_version is not None:
            self.result.malformed += self._malformed(tables.last_commit_version)
        log.info(
            "source %s: batch %d: %d files, %d rows -> %s",
            self.name,
            batch,
            len(plan.files),
            rows,
            self.table,
        )

    def _set_aside(
        self, files: Sequence[LandedFile], reasons: dict[str, str], run_id: str | None, batch: int
    ) -> None:
        """Record files in ops.rejected_files (and drop a claim on them)."""
        if not files:
            return
        by_file = {f.file: reasons[f.path] for f in files}
        for name, reason in by_file.items():
            log.error("source %s: file %s set aside: %s", self.name, name, reason)
        self.ledger.reject(files, by_file)
        if run_id is not None:
            self.ledger.release(run_id, batch, list(by_file))
        self.rejected.update(by_file)

    def _unreadable(self, files: Sequence[LandedFile]) -> dict[str, str]:
        """Read each file alone (every column parsed, nothing kept): those that fail, and why."""
        reasons = {}
        for landed_file in files:
            try:
                plan = self._plan([landed_file.path])
                frame = self._read(plan) if not plan.rejected else None
                if frame is not None:
                    landed.fully_read(frame)
            except Exception as error:
                reasons[landed_file.path] = f"unreadable: {_first_line(error)}"
        return reasons

    def _plan(self, files: Sequence[str]) -> ReadPlan:
        """Check a batch's files before reading them: what is read how, and what is set aside."""
        plan = ReadPlan()
        file_format = self.settings.format
        if file_format == "csv" and self.options.get("header", "true").lower() == "true":
            self._plan_csv(files, plan)
        elif file_format == "parquet":
            self._plan_parquet(files, plan)
        else:
            if file_format == "json":
                limit = self.settings.max_record_bytes
                for path, (keys, longest) in landed.json_layouts(self.spark, files).items():
                    if longest > limit:
                        plan.rejected[path] = _too_long(self.name, longest, limit)
                    else:
                        self._check_new(sorted(keys - {metadata.CORRUPT}), {}, [path], plan)
            plan.files = [path for path in files if path not in plan.rejected and path not in plan.refused]
        return plan

    def _plan_csv(self, files: Sequence[str], plan: ReadPlan) -> None:
        """Group CSV files by header; each group is read with a schema in its header's order."""
        separator = self.options.get("sep", self.options.get("delimiter", ","))
        quote = self.options.get("quote", '"') or '"'
        limit = self.settings.max_record_bytes
        by_header: dict[tuple[str, ...], list[str]] = {}
        lines = landed.first_lines(self.spark, files, self.settings.encoding, limit)
        for path, line in lines.items():
            if line is None:
                log.info("source %s: %s is empty", self.name, path)
                plan.empty.append(path)
                continue
            if len(line.encode("utf-8", "replace")) > limit:
                plan.rejected[path] = _too_long(self.name, None, limit)
                continue
            try:
                header = parse_header(line, separator, quote)
            except ValueError as error:
                plan.rejected[path] = f"bad CSV header: {error}"
                continue
            unstorable = unstorable_names(header)
            if unstorable:
                shown = [name[:40] for name in unstorable[:5]]
                plan.rejected[path] = (
                    f"CSV header names {shown} have characters a Delta column cannot have "
                    "(space , ; { } ( ) = tab, control characters or undecodable bytes): "
                    f"binary data, a wrong sources.{self.name}.encoding, or names to fix in the file"
                )
                continue
            by_header.setdefault(tuple(header), []).append(path)
        for header, group in by_header.items():
            try:
                header_plan = plan_header(header, self.known)
            except ValueError as error:
                for path in group:
                    plan.rejected[path] = f"bad CSV header: {error}"
                continue
            if not self._check_new(list(header_plan.new_columns), {}, group, plan):
                continue
            # new columns are strings both in the plan and once evolved, so the plan stays valid
            fields = [*header_plan.schema.fields, T.StructField(metadata.CORRUPT, T.StringType())]
            plan.csv_groups.append((T.StructType(fields), group))
            plan.files += group

    def _plan_parquet(self, files: Sequence[str], plan: ReadPlan) -> None:
        try:
            schemas = {None: landed.parquet_schema(self.spark, files)}
        except Exception:  # one footer does not parse: read them one by one to find it
            schemas = {}
            for path in files:
                try:
                    schemas[path] = landed.parquet_schema(self.spark, [path])
                except Exception as error:
                    plan.rejected[path] = f"not a readable Parquet file: {_first_line(error)}"
        for path, found in schemas.items():
            group = files if path is None else [path]
            if not self.known.fields and not self.context.tables.exists(self.table):
                self.known = found  # the first files define an undeclared Parquet source
            names = [f.name for f in found.fields]
            if self.settings.drift == "fail" and path is None and self._new_names(names):
                # which files bring the refused columns: their footers, one by one
                for single in files:
                    self._check_new(
                        [f.name for f in landed.parquet_schema(self.spark, [single]).fields],
                        {},
                        [single],
                        plan,
                    )
                continue
            self._check_new(names, {f.name: f.dataType for f in found.fields}, group, plan)
        plan.files = [path for path in files if path not in plan.rejected and path not in plan.refused]

    def _new_names(self, columns: Sequence[str]) -> list[str]:
        known = {f.name.lower() for f in self.known.fields}
        return [name for name in columns if name.lower() not in known]

    def _check_new(
        self, columns: Sequence[str], types: dict[str, T.DataType], files: Sequence[str], plan: ReadPlan
    ) -> bool:
        """Apply the drift policy to columns the files have: evolve adds them, fail leaves the
        files for a later run (the others go on). Returns whether the files can be read."""
        new = self._new_names(columns)
        if not new:
            return True
        if self.settings.drift == "fail":
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
            error = SchemaDriftError(
                self.table, new, [], "fail", where=f" in source {self.name} files {shown}"
            )
            log.error("%s", error)
            plan.refused.update(files)
            self._drift = error
            return False
        log.warning("source %s: new columns %s evolve table %s", self.name, new, self.table)
        self.known = evolved(self.known, new, types)
        self.result.new_columns += [name for name in new if name not in self.result.new_columns]
        return True

    def _read(self, plan: ReadPlan) -> DataFrame | None:
        """Read one batch's files as rows of the table: known columns, corrupt line, metadata."""
        file_format = self.settings.format
        if plan.csv_groups:
            frames = [
                self._finish(landed.read_files(self.spark, "csv", group, schema, self.read_options))
                for schema, group in plan.csv_groups
            ]
            return _union(frames)
        if not plan.files:
            return None
        if file_format == "parquet":
            return self._finish(landed.read_files(self.spark, "parquet", plan.files, None, self.read_options))
        # JSON, and CSV without a header: the known columns, by name (JSON) or position (CSV)
        schema = T.StructType([*self.known.fields, T.StructField(metadata.CORRUPT, T.StringType())])
        return self._finish(landed.read_files(self.spark, file_format, plan.files, schema, self.read_options))

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
        rows = conform(with_metadata, T.StructType([*self.known.fields, *corrupt]), extra)
        if corrupt:
            strings = [f.name for f in self.known.fields if isinstance(f.dataType, T.StringType)]
            rows = flag_undecodable(rows, strings, metadata.CORRUPT, self.settings.encoding)
        return rows

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


def _too_long(source: str, length: int | None, limit: int) -> str:
    size = f"a line of {length} bytes" if length is not None else "a first line"
    return f"{size} longer than sources.{source}.max_record_bytes ({limit})"


def _first_line(error: BaseException) -> str:
    """What went wrong, in one line (see :func:`lakehouse.errors.first_line`)."""
    return first_line(str(error)) or type(error).__name__

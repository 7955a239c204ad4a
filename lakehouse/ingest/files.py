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

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import LakehouseConfig
from lakehouse.config.sources import SourceSettings
from lakehouse.errors import (
    FilesRejectedError,
    IngestError,
    LakehouseError,
    SchemaDriftError,
    SourceFolderNotFoundError,
)
from lakehouse.ingest import metadata
from lakehouse.ingest.formats import FORMATS, ReadPlan, reason
from lakehouse.ingest.ledger import Claim, FileLedger, LandedFile, app_id
from lakehouse.ingest.result import IngestResult
from lakehouse.ingest.schema import (
    conform,
    declared_schema,
    evolved,
    flag_undecodable,
)
from lakehouse.io import files as landed
from lakehouse.io.delta_store import DeltaStore

log = logging.getLogger(__name__)

# Options that decide which files are listed; every other option is for reading.
LISTING_OPTIONS = frozenset({"pathGlobFilter", "recursiveFileLookup", "modifiedBefore", "modifiedAfter"})


class FileIngest:
    """The ingest of one file source into its bronze table (see the module docstring)."""

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
        self.spark = tables.spark
        self.name = name
        self.settings = settings
        self.table = table
        path = settings.path or ""
        self.path = path if "://" in path or path.startswith("/") else tables.layout.files_location(path)
        self.format = FORMATS[settings.format]
        self.options = {**self.format.default_options, **{key: str(v) for key, v in settings.options.items()}}
        if self.format.text and codecs.lookup(settings.encoding).name != "utf-8":
            # only another character set is named: Spark's readers default to UTF-8, and JSON given
            # any encoding (even UTF-8) decodes through a character stream (1 GiB: 4.5 s, not 3.9 s)
            self.options.setdefault("encoding", settings.encoding)
        self.read_options = {k: v for k, v in self.options.items() if k not in LISTING_OPTIONS}
        self.ingested_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.known = self._known_columns()
        self.result = IngestResult(name, table)
        self.ledger = FileLedger(self.spark, tables.layout, name, table, run_id)
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
        if self.tables.exists(self.table):
            table_columns = metadata.data_columns(self.tables.read(self.table).schema)
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
        if not self.tables.exists(self.table):
            return
        bronze = self.tables.read(self.table)
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
        committed = self.tables.committed_batch(self.table, writer)
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
        self._write_batch([f for f in readable if f.file in mine], self.run_id, batch, ready)

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
                        f"{reason(error)}"
                    ) from error
                self._set_aside([f for f in remaining if f.path in reasons], reasons, run_id, batch)
                remaining = [f for f in remaining if f.path not in reasons]
                plan = None
                continue
            self.result.files += len(remaining)
            self.ledger.settle(run_id, batch, self.tables.last_commit_version)
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
        tables = self.tables
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
        for name, why in by_file.items():
            log.error("source %s: file %s set aside: %s", self.name, name, why)
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
                reasons[landed_file.path] = f"unreadable: {reason(error)}"
        return reasons

    def _plan(self, files: Sequence[str]) -> ReadPlan:
        """Check a batch's files before reading them: what is read how, and what is set aside."""
        plan = ReadPlan()
        self.format.plan(self, files, plan)
        return plan

    def new_names(self, columns: Sequence[str]) -> list[str]:
        known = {f.name.lower() for f in self.known.fields}
        return [name for name in columns if name.lower() not in known]

    def check_new(
        self, columns: Sequence[str], types: dict[str, T.DataType], files: Sequence[str], plan: ReadPlan
    ) -> bool:
        """Apply the drift policy to columns the files have: evolve adds them, fail leaves the
        files for a later run (the others go on). Returns whether the files can be read."""
        new = self.new_names(columns)
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
        return self.format.read(self, plan)

    def finish(self, raw: DataFrame) -> DataFrame:
        """Add the metadata (the file from Spark's ``_metadata``) and put columns in table order."""
        with_metadata = metadata.with_ingest_metadata(
            raw,
            self.name,
            F.col("_metadata.file_path"),
            metadata.SOURCE_FILE,
            self.run_id,
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
        tables = self.tables
        counts = tables.null_counts(self.table, version, [metadata.CORRUPT])
        if metadata.CORRUPT in counts:
            return counts["numRecords"] - counts[metadata.CORRUPT]
        malformed = (F.col(metadata.RUN_ID) == self.run_id) & F.col(metadata.CORRUPT).isNotNull()
        before = tables.read(self.table, version=version - 1) if version > 0 else None
        earlier = 0
        if before is not None and metadata.CORRUPT in before.columns:
            earlier = before.where(malformed).count()
        return tables.read(self.table, version=version).where(malformed).count() - earlier

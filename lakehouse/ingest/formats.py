"""The file formats a source may land, each one class: how a batch of its files is checked before
it is read (what drift it brings, what is set aside) and how it is read. A new format is one class
here and one line in :data:`FORMATS` (and its name in ``config.sources.FILE_FORMATS``, which
sources.yml is checked against); :class:`~lakehouse.ingest.files.FileIngest` does the rest (the
ledger, claims, appends, quarantine of unreadable files) the same for all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from lakehouse.errors import first_line
from lakehouse.ingest import metadata
from lakehouse.ingest.schema import parse_header, plan_header, unstorable_names
from lakehouse.io import files as landed

if TYPE_CHECKING:
    from lakehouse.ingest.files import FileIngest

log = logging.getLogger("lakehouse.ingest.files")


@dataclass
class ReadPlan:
    """How one batch's files are read: CSV groups by header (each with its schema), or the files."""

    files: list[str] = field(default_factory=list)  # paths to read (CSV: every group's files)
    csv_groups: list[tuple[T.StructType, list[str]]] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # path -> why it is set aside
    empty: list[str] = field(default_factory=list)  # files with nothing in them: ingested as they are
    refused: set[str] = field(default_factory=set)  # paths the drift policy refuses: tried again next run


class FileFormat:
    """A format of landed files (see the module docstring)."""

    name: ClassVar[str]
    text: ClassVar[bool] = False  # read through a character set (the source's encoding)
    default_options: ClassVar[dict[str, str]] = {}

    def plan(self, ingest: FileIngest, files: Sequence[str], plan: ReadPlan) -> None:
        """Fill ``plan`` for a batch: by default every file is read as it is."""
        plan.files = readable(files, plan)

    def read(self, ingest: FileIngest, plan: ReadPlan) -> DataFrame | None:
        """The batch's rows with the ingest's metadata (None: nothing to read): by default the
        known columns by name, and each malformed line kept in ``_corrupt_record``."""
        if not plan.files:
            return None
        raw = landed.read_files(ingest.spark, self.name, plan.files, self.schema(ingest), ingest.read_options)
        return ingest.finish(raw)

    def schema(self, ingest: FileIngest) -> T.StructType | None:
        """The columns to read: the known ones with ``_corrupt_record`` (None: the files' own)."""
        return T.StructType([*ingest.known.fields, T.StructField(metadata.CORRUPT, T.StringType())])


class Csv(FileFormat):
    """CSV read by header name (files grouped by header, each group with its own column order), or
    by position with ``header: false``."""

    name = "csv"
    text = True
    default_options: ClassVar[dict[str, str]] = {"header": "true"}

    def plan(self, ingest: FileIngest, files: Sequence[str], plan: ReadPlan) -> None:
        if ingest.options.get("header", "true").lower() == "true":
            self._by_header(ingest, files, plan)
        else:
            super().plan(ingest, files, plan)

    def read(self, ingest: FileIngest, plan: ReadPlan) -> DataFrame | None:
        if not plan.csv_groups:
            return super().read(ingest, plan)  # without a header: the known columns by position
        frames = [
            ingest.finish(landed.read_files(ingest.spark, "csv", group, schema, ingest.read_options))
            for schema, group in plan.csv_groups
        ]
        result = frames[0]
        for frame in frames[1:]:
            result = result.unionByName(frame, allowMissingColumns=True)
        return result

    def _by_header(self, ingest: FileIngest, files: Sequence[str], plan: ReadPlan) -> None:
        """Group CSV files by header; each group is read with a schema in its header's order."""
        separator = ingest.options.get("sep", ingest.options.get("delimiter", ","))
        quote = ingest.options.get("quote", '"') or '"'
        limit = ingest.settings.max_record_bytes
        by_header: dict[tuple[str, ...], list[str]] = {}
        lines = landed.first_lines(ingest.spark, files, ingest.settings.encoding, limit)
        for path, line in lines.items():
            if line is None:
                log.info("source %s: %s is empty", ingest.name, path)
                plan.empty.append(path)
                continue
            if len(line.encode("utf-8", "replace")) > limit:
                plan.rejected[path] = too_long(ingest.name, None, limit)
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
                    f"binary data, a wrong sources.{ingest.name}.encoding, or names to fix in the file"
                )
                continue
            by_header.setdefault(tuple(header), []).append(path)
        for header, group in by_header.items():
            try:
                header_plan = plan_header(header, ingest.known)
            except ValueError as error:
                for path in group:
                    plan.rejected[path] = f"bad CSV header: {error}"
                continue
            if not ingest.check_new(list(header_plan.new_columns), {}, group, plan):
                continue
            # new columns are strings both in the plan and once evolved, so the plan stays valid
            fields = [*header_plan.schema.fields, T.StructField(metadata.CORRUPT, T.StringType())]
            plan.csv_groups.append((T.StructType(fields), group))
            plan.files += group


class Json(FileFormat):
    """JSON lines: each file's keys are read first (one pass over its text, no typing), so that a new
    key evolves the table or refuses the batch under the drift policy and never vanishes."""

    name = "json"
    text = True

    def plan(self, ingest: FileIngest, files: Sequence[str], plan: ReadPlan) -> None:
        limit = ingest.settings.max_record_bytes
        for path, (keys, longest) in landed.json_layouts(ingest.spark, files).items():
            if longest > limit:
                plan.rejected[path] = too_long(ingest.name, longest, limit)
            else:
                ingest.check_new(sorted(keys - {metadata.CORRUPT}), {}, [path], plan)
        super().plan(ingest, files, plan)


class Parquet(FileFormat):
    """Parquet: columns and types from the footers; an undeclared source takes its first files'."""

    name = "parquet"

    def plan(self, ingest: FileIngest, files: Sequence[str], plan: ReadPlan) -> None:
        try:
            schemas = {None: landed.parquet_schema(ingest.spark, files)}
        except Exception:  # one footer does not parse: read them one by one to find it
            schemas = {}
            for path in files:
                try:
                    schemas[path] = landed.parquet_schema(ingest.spark, [path])
                except Exception as error:
                    plan.rejected[path] = f"not a readable Parquet file: {reason(error)}"
        for path, found in schemas.items():
            group = files if path is None else [path]
            if not ingest.known.fields and not ingest.tables.exists(ingest.table):
                ingest.known = found  # the first files define an undeclared Parquet source
            names = [f.name for f in found.fields]
            if ingest.settings.drift == "fail" and path is None and ingest.new_names(names):
                # which files bring the refused columns: their footers, one by one
                for single in files:
                    ingest.check_new(
                        [f.name for f in landed.parquet_schema(ingest.spark, [single]).fields],
                        {},
                        [single],
                        plan,
                    )
                continue
            ingest.check_new(names, {f.name: f.dataType for f in found.fields}, group, plan)
        plan.files = readable(files, plan)

    def schema(self, ingest: FileIngest) -> T.StructType | None:
        return None  # the footers' own columns and types


# every format, by the name sources.yml gives it
FORMATS: dict[str, FileFormat] = {kind.name: kind() for kind in (Csv, Json, Parquet)}


def readable(files: Sequence[str], plan: ReadPlan) -> list[str]:
    """The files of a batch neither set aside nor refused by the drift policy."""
    return [path for path in files if path not in plan.rejected and path not in plan.refused]


def too_long(source: str, length: int | None, limit: int) -> str:
    size = f"a line of {length} bytes" if length is not None else "a first line"
    return f"{size} longer than sources.{source}.max_record_bytes ({limit})"


def reason(error: BaseException) -> str:
    """What went wrong, in one line (see :func:`lakehouse.errors.first_line`)."""
    return first_line(str(error)) or type(error).__name__

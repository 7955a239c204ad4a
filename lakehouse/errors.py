"""Typed errors of the lakehouse framework.

Every failure a caller may want to handle has its own class, so that code catches
``TableNotFoundError`` rather than parsing a message. Each message names the config file
and key, table, column, job or file at fault and, where the fix is obvious, says it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, known: Iterable[str], listing: str = "known") -> str:
    """The end of an error message about an unknown name: ``did you mean 'x'?`` for the closest
    known name, else the known names (``known: a, b``; ``listing`` names them, e.g. ``columns``)."""
    names = list(known)
    close = difflib.get_close_matches(word, names, n=1)
    return f"did you mean {close[0]!r}?" if close else f"{listing}: {', '.join(names) or 'none'}"


def first_line(message: str) -> str:
    """The line of an engine's error message that says what went wrong (py4j's "An error
    occurred while calling o12.save" and Java stack frames skipped)."""
    for line in message.strip().splitlines():
        text = line.strip().removeprefix(": ").strip()
        if text and not text.startswith(("An error occurred while calling", "at ", "JVM stacktrace")):
            return text[:500]
    return message.strip()[:500]


class LakehouseError(Exception):
    """Base class of every error raised by the lakehouse framework."""


class ConfigError(LakehouseError):
    """The configuration under ``conf/`` is invalid.

    Args:
        problems: one line per problem, each ``<file>: <key.path>: <what is wrong>``.
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} configuration problems:\n" + "\n".join(
                f"  - {problem}" for problem in self.problems
            )
        super().__init__(message)


class UnknownEnvironmentError(ConfigError):
    """The environment named by ``--env`` or ``LAKEHOUSE_ENV`` has no folder under ``conf/``."""


class TableNameError(LakehouseError, ValueError):
    """A table name is not of the form ``<layer>.<name>`` with a known layer."""


class TableNotFoundError(LakehouseError):
    """A table that a job reads does not exist at its location."""


class JarsNotFoundError(LakehouseError):
    """The JVM libraries (Delta, SynapseML, hadoop-azure) are missing from the session."""


class SessionError(LakehouseError):
    """A SparkSession the lakehouse joined lacks settings it needs (Delta extension, catalog)."""


class JobNotFoundError(LakehouseError):
    """No job is registered under the requested name."""


class JobParameterError(LakehouseError, ValueError):
    """A ``--param`` value or a job's configured parameter is unknown or of the wrong type."""


class ClusterError(LakehouseError):
    """The local standalone Spark cluster could not be started, reached or stopped."""


class SchemaDriftError(LakehouseError):
    """Incoming rows do not match a table's schema and its drift policy does not allow the change.

    Attributes:
        table: the table name.
        added: columns the rows have and the table lacks.
        changed: ``column: table type -> incoming type`` for columns whose type differs.
    """

    def __init__(self, table: str, added: list[str], changed: list[str], policy: str, where: str = ""):
        self.table, self.added, self.changed = table, added, changed
        parts = []
        if added:
            parts.append(f"new columns {added}")
        if changed:
            parts.append(f"changed types {changed}")
        hint = (
            "set the table's drift policy to 'evolve' to add nullable columns"
            if policy == "fail" and not changed
            else "a column's type cannot change in place: write a new column or rebuild the table"
        )
        super().__init__(
            f"table {table}: schema drift ({'; '.join(parts)}{where}) refused by policy {policy!r}; {hint}"
        )


class StoredFileError(LakehouseError):
    """A stored file or folder could not be read without Spark (permission, network, file system)."""


class ConcurrentWriteError(LakehouseError):
    """Another writer committed to the same table in a conflicting way, after the retries allowed."""


class PartitionOverwriteError(LakehouseError):
    """Rows given to overwrite one partition fall outside it; the table is left as it was."""


class DatabaseError(LakehouseError):
    """A database could not be started, reached or queried (the local PostgreSQL server, a JDBC source)."""


class IngestError(LakehouseError):
    """A source could not be ingested (bad landed file, failed stream, unreadable database)."""


class SourceFolderNotFoundError(IngestError):
    """A file source's folder does not exist (a typo in its ``path``, or nothing landed there yet).

    Attributes:
        source: the source's name in sources.yml.
        path: the folder looked for.
    """

    def __init__(self, source: str, path: str):
        self.source, self.path = source, path
        super().__init__(
            f"source {source}: its folder {path} does not exist; check sources.{source}.path in "
            "sources.yml, or create the folder (an empty folder is fine: nothing to ingest)"
        )


class FilesRejectedError(IngestError):
    """Landed files of a source could not be read and were set aside in ``ops.rejected_files``;
    the source's other files were ingested.

    Attributes:
        source: the source's name in sources.yml.
        reasons: relative path -> why it was set aside.
    """

    def __init__(self, source: str, reasons: dict[str, str]):
        self.source, self.reasons = source, dict(reasons)
        first, why = next(iter(self.reasons.items()))
        more = f" and {len(self.reasons) - 1} more" if len(self.reasons) > 1 else ""
        super().__init__(
            f"source {source}: set aside file {first}{more} ({why}); the other files were ingested. "
            f"Fix or re-land it, then `lakehouse ingest rejected --source {source} --retry`"
        )


class ConformError(LakehouseError):
    """Bronze rows cannot be conformed to a silver table's declaration (a declared column is missing)."""


class QualityError(LakehouseError):
    """Expectations of severity ``fail`` failed: the job stopped before writing the table.

    Attributes:
        table: the table whose rows were checked.
        failures: the failed expectations (:class:`lakehouse.quality.validation.ExpectationResult`).
    """

    def __init__(self, table: str, failures: list):
        self.table, self.failures = table, list(failures)
        lines = [
            f"{item.expectation} ({item.kind}): "
            + (
                f"{item.unexpected_count} unexpected of {item.element_count} rows"
                if item.unexpected_count is not None
                else f"observed {item.observed}"
            )
            + (f", e.g. {item.sample[:3]}" if item.sample else "")
            for item in self.failures
        ]
        super().__init__(
            f"table {table}: {len(lines)} expectation(s) of severity fail failed, nothing written: "
            + "; ".join(lines)
        )


class ChangeFeedError(LakehouseError):
    """The changes of a table since a version cannot be read (change data feed off, or history vacuumed)."""


class FeatureError(LakehouseError):
    """A feature table, training set or label cannot be built as asked (missing columns, clashes)."""


class ModelError(LakehouseError):
    """A model cannot be trained, registered, promoted or scored as configured."""


class TrainingDataError(ModelError):
    """A model's training rows fail a check before any fit: an empty split, rows outside every
    split, or too many label rows without a feature row (names the table and the dates to backfill)."""


class ModelTrainingError(ModelError):
    """Spark ML or LightGBM failed while fitting or evaluating a model; names the model, the
    column at fault when the engine's message names one, and the engine's first line."""


class MissingFeaturesError(ModelError):
    """The rows to score lack features that the model was trained on.

    Attributes:
        missing: the missing feature names.
    """

    def __init__(self, message: str, missing: list[str]):
        super().__init__(message)
        self.missing = missing


class EmbeddingError(LakehouseError):
    """An embedding table cannot be built: missing model, bad source, text column or id."""


class VectorSearchError(LakehouseError):
    """A vector search or index cannot run: no index, wrong dimension, unknown filter column."""


class FilterValueError(VectorSearchError):
    """A search filter's value does not fit its column's type (the same error on the exact and the
    index path).

    Attributes:
        table, column: the embedding table and the filtered column.
        column_type: the column's Spark SQL type (``bigint``, ``timestamp``).
        value: the value given.
    """

    def __init__(self, table: str, column: str, column_type: str, value: object):
        self.table, self.column, self.column_type, self.value = table, column, column_type, value
        example = _EXAMPLES.get(column_type.split("(")[0])
        hint = (
            f"give a {column_type} value, e.g. {example}"
            if example
            else "filters compare numbers, text, booleans, dates and timestamps only"
        )
        super().__init__(
            f"filter on {column}: {value!r} is not a {column_type} value ({column} of {table} is "
            f"{column_type}); {hint}"
        )


_EXAMPLES = {
    "tinyint": "7",
    "smallint": "7",
    "int": "7",
    "bigint": "7",
    "float": "49.9",
    "double": "49.9",
    "decimal": "49.90",
    "boolean": "true",
    "string": "email",
    "date": "2026-01-03",
    "timestamp": "2026-01-03 or 2026-01-03T10:00:00",
    "timestamp_ntz": "2026-01-03 or 2026-01-03T10:00:00",
}


class IndexUnreadableError(VectorSearchError):
    """A table's vector index is missing files or cannot be read (truncated, corrupt).

    Attributes:
        table: the embedding table.
        location: the index's version folder.
    """

    def __init__(self, table: str, location: str, reason: str):
        self.table, self.location = table, location
        super().__init__(
            f"the index of {table} at {location} cannot be read ({reason}); rebuild it with "
            f"`lakehouse run build_index --param table={table.split('.')[-1].removesuffix('_embeddings')} "
            "--param full=true` (searches meanwhile run exactly)"
        )


class TableBusyError(LakehouseError):
    """Another run is writing a table (or an index) that this run writes exclusively.

    Attributes:
        target: the table (``silver.orders``) or index (``index of gold.tickets_embeddings``).
        holder: the run holding its lock (job, run id, pid, host, since).
        lock: the lock file.
    """

    def __init__(self, target: str, holder: str, job: str, lock: str, waited: float = 0.0):
        self.target, self.holder, self.lock = target, holder, lock
        after = f" (waited {waited:.0f} s)" if waited > 0 else ""
        super().__init__(
            f"{target} is being written by {holder}{after}: run {job} again when that run has finished, "
            f"or set jobs.{job}.lock_wait_seconds to wait for it (lock {lock}; the lock of a dead run "
            "is taken over)"
        )


class PipelineError(LakehouseError):
    """A pipeline cannot be planned or run (unknown pipeline or task, bad dates, nothing to resume)."""


class PipelineLockedError(PipelineError):
    """Another run of the same pipeline and environment holds its lock."""


class ProjectExistsError(LakehouseError):
    """``lakehouse init`` was pointed at a folder that is not empty; nothing was written."""

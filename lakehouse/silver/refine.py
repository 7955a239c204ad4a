"""Build one silver table from its bronze table, incrementally: read, conform, check, write.

For each table, :func:`refine_table`:

1. reads the rows bronze gained since the version the last successful run recorded in
   ``ops.table_progress`` (Delta's change data feed; the whole table on the first run);
2. conforms them (:func:`~lakehouse.silver.conform.conform`) and keeps the latest row per key;
3. runs the table's quality suite once and records its results in ``ops.quality_results``;
   a failed ``fail`` expectation stops here, with the silver table untouched;
4. inserts the rows a ``drop`` expectation refused into ``quarantine.<table>`` (once per row:
   keyed by the row's values and the expectations it failed), then upserts the rest into silver
   (MERGE by key, latest wins; SCD2 for a history table), then records the bronze version it
   read up to.

A rerun with no new bronze version reads and writes nothing; a rerun after a crash between the
writes repeats idempotent writes only. :func:`replay_quarantine` sends quarantined rows through
the current suite again and writes those that pass (after a fix of the rule, of the data in the
quarantine table, or of a missing referenced row).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config.silver import SilverTableSettings
from lakehouse.errors import ConfigError, TableNotFoundError
from lakehouse.ingest.metadata import CORRUPT
from lakehouse.io.delta_store import DeltaStore
from lakehouse.io.progress import last_source_version, record_source_version
from lakehouse.io.table_spec import TableSpec
from lakehouse.quality.config import QualitySuite
from lakehouse.quality.records import (
    QUARANTINE_COLUMNS,
    QUARANTINE_ID,
    REPLAYED_AT,
    REPLAYED_RUN,
    pending_quarantine,
    previous_row_count,
    quarantine_spec,
    quarantine_table,
    record_results,
    to_quarantine,
)
from lakehouse.quality.step import QualityOutcome, check_batch
from lakehouse.silver.conform import LINEAGE_COLUMNS, conform, one_row_per_key


@dataclass
class RefineResult:
    """What one run did to one silver table (all counts are rows)."""

    table: str
    source: str
    from_version: int | None  # exclusive; None: read whole
    to_version: int
    read: int = 0
    duplicates: int = 0  # collapsed into the latest row of their key
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # quarantined rows per failed expectation
    warnings: dict[str, int] = field(default_factory=dict)  # rows kept that failed a warn expectation
    inserted: int = 0
    updated: int = 0
    replayed: int = 0

    @property
    def skipped(self) -> bool:
        return self.from_version is not None and self.from_version >= self.to_version


def silver_spec(table: str, settings: SilverTableSettings, rows: DataFrame) -> TableSpec:
    """The declaration of a silver table written with ``rows`` (conformed, checked)."""
    return TableSpec(
        name=table,
        schema=rows.schema,
        key=tuple(settings.key),
        partition_by=tuple(settings.partition_by),
        comment=settings.description,
        properties={"delta.enableChangeDataFeed": "true"},  # gold tables read only what changed
        drift="evolve",  # a column added to silver.yml is added to the table
    )


def references_of(tables: DeltaStore, suite: QualitySuite) -> dict[str, DataFrame]:
    """The tables the suite's ``references`` expectations point at, as they are now."""
    referenced = {e.referenced() for e in suite.expectations if e.referenced()}
    missing = [name for name in sorted(referenced) if not tables.exists(name)]
    if missing:
        raise TableNotFoundError(
            f"{suite.table}: expectations refer to {missing}, which do not exist yet; "
            "build them first (silver.tables order in silver.yml)"
        )
    return {name: tables.read(name) for name in referenced}


def refine_table(
    tables: DeltaStore,
    run_id: str,
    job: str,
    name: str,
    settings: SilverTableSettings,
    suite: QualitySuite,
    pii_salt: str,
    full_refresh: bool = False,
) -> RefineResult:
    """Bring ``silver.<name>`` up to date with its bronze table (see the module docstring)."""
    table = f"silver.{name}"
    if not tables.exists(settings.source):
        raise TableNotFoundError(
            f"{table}: its source {settings.source} does not exist; run bronze_ingest first"
        )
    last = None if full_refresh else last_source_version(tables.spark, tables.layout, table, settings.source)
    if last is None:
        tables.enable_change_feed(settings.source)  # so that the next run reads only changes
    current = tables.version(settings.source)
    result = RefineResult(table, settings.source, last, current)
    if result.skipped:
        return result

    bronze = tables.changes(settings.source, last, current)
    conformed = conform(bronze, settings, table, pii_salt)
    batch = one_row_per_key(conformed, settings.key, settings.order_by)
    counted = any(e.needs_previous_rows for e in suite.expectations)
    previous = previous_row_count(tables.spark, tables.layout, table) if counted else None
    outcome = check_batch(batch, suite, references_of(tables, suite), previous)
    try:
        record_results(tables.spark, tables.layout, outcome.results, run_id, job)
        outcome.raise_for_failures()  # before any write: the silver table stays as it was
        result.read = bronze.count()
        result.duplicates = result.read - outcome.counts["rows"]
        _write_checked(tables, run_id, job, table, settings, outcome, result, quarantine=True)
    finally:
        outcome.release()
    record_source_version(tables.spark, tables.layout, table, settings.source, current, run_id)
    return result


def replay_quarantine(
    tables: DeltaStore, run_id: str, job: str, name: str, settings: SilverTableSettings, suite: QualitySuite
) -> RefineResult:
    """Check the pending rows of ``quarantine.<name>`` again; write those that now pass.

    Rows that pass go to ``silver.<name>`` exactly as new rows would (MERGE by key: a row older
    than the table's row of its key changes nothing) and are marked replayed in the quarantine
    table (``_replayed_run_id``); rows that still fail stay pending.
    """
    table = f"silver.{name}"
    quarantine = quarantine_table(table)
    current = tables.version(settings.source) if tables.exists(settings.source) else 0
    result = RefineResult(table, quarantine, None, current)
    if not tables.exists(quarantine):
        return result
    pending = pending_quarantine(tables.read(quarantine)).cache()
    batch = one_row_per_key(pending.drop(*QUARANTINE_COLUMNS), settings.key, settings.order_by)
    outcome = check_batch(batch, suite, references_of(tables, suite))
    try:
        record_results(tables.spark, tables.layout, outcome.results, run_id, job, "replay")
        outcome.raise_for_failures()
        result.read = outcome.counts["rows"]
        _write_checked(tables, run_id, job, table, settings, outcome, result, quarantine=False)
        # the rows of each key written are replayed, older versions of the key included
        keys = outcome.passed.select(*settings.key).distinct()
        marked = (
            pending.join(keys, list(settings.key), "left_semi")
            .withColumn(REPLAYED_RUN, F.lit(run_id))
            .withColumn(REPLAYED_AT, F.lit(dt.datetime.now(dt.UTC)).cast("timestamp"))
        )
        result.replayed = marked.count()
        if result.replayed:
            tables.merge(quarantine, marked, keys=[QUARANTINE_ID])
    finally:
        outcome.release()
        pending.unpersist()
    return result


def _write_checked(
    tables: DeltaStore,
    run_id: str,
    job: str,
    table: str,
    settings: SilverTableSettings,
    outcome: QualityOutcome,
    result: RefineResult,
    quarantine: bool,
) -> None:
    """Quarantine the refused rows (unless replaying), then write the rest to silver."""
    result.reasons = outcome.dropped_by_reason()
    result.warnings = {
        item.expectation: int(item.unexpected_count or 0)
        for item in outcome.failures
        if item.severity == "warn" and item.unexpected_count
    }
    result.quarantined = outcome.counts["dropped"]
    if result.quarantined and quarantine:
        rows = to_quarantine(outcome.dropped, run_id, dt.datetime.now(dt.UTC))
        # by row: a row already quarantined (by an earlier run of the same bronze rows, a full
        # refresh, or after ops.table_progress was lost) is not quarantined again
        tables.insert_new(quarantine_table(table), rows, [QUARANTINE_ID], spec=quarantine_spec(table, rows))
    passed = outcome.passed.drop(CORRUPT)  # the raw line stays in bronze and quarantine
    if settings.history == "scd2":
        tracked = [c for c in settings.columns if c not in settings.key and c != settings.order_by]
        written = tables.merge_scd2(table, passed, settings.key, settings.order_by, tracked)
        result.inserted, result.updated = written["inserted"], written["closed"]
    else:
        written = tables.merge(
            table, passed, settings.key, settings.order_by, spec=silver_spec(table, settings, passed)
        )
        result.inserted, result.updated = written["inserted"], written["updated"]


def check_suites(tables: dict[str, SilverTableSettings], suites: dict) -> None:
    """Every enabled silver table has a quality file, and its expectations name real columns."""
    problems = []
    for name, settings in tables.items():
        table = f"silver.{name}"
        if table not in suites:
            continue
        suite, path = suites[table]
        known = [*settings.columns, *LINEAGE_COLUMNS]
        try:
            suite.check_columns(known, str(path))
        except ConfigError as error:
            problems += error.problems
    if problems:
        raise ConfigError(problems)

"""The quality step of a job: check a batch before it is written, and split it by severity.

One call of :func:`check_batch` caches the batch with each row's failed expectations (as bits,
see :mod:`lakehouse.quality.rules`), runs the suite once with great-expectations on that cached
frame, and returns:

- the results, one per expectation (for ``ops.quality_results``);
- the rows to write: those that fail no ``drop`` expectation (``warn`` failures are kept and counted);
- the rows to quarantine, each with the labels of every expectation it fails.

A failed ``fail`` expectation makes :meth:`QualityOutcome.raise_for_failures` raise
:class:`~lakehouse.errors.QualityError`; the caller calls it before writing anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.errors import QualityError
from lakehouse.quality.config import QualitySuite
from lakehouse.quality.rules import (
    FAILED,
    MASK_PREFIX,
    failed_labels,
    fails_any,
    internal_columns,
    mark_failures,
    sample_failures,
)
from lakehouse.quality.validation import SAMPLE_SIZE, ExpectationResult, validate


@dataclass
class QualityOutcome:
    """A checked batch. Call :meth:`release` when done with its frames."""

    table: str
    results: list[ExpectationResult]
    marked: DataFrame  # every row with its failure bits (cached)
    labels: tuple[str, ...]  # of every row expectation, in the suite's order
    drop_labels: tuple[str, ...]
    counts: dict[str, int]  # ``rows`` checked, ``dropped`` rows, and dropped rows per label

    @property
    def passed(self) -> DataFrame:
        """The rows to write: no failed ``drop`` expectation; the flag columns removed."""
        return self.marked.where(~self._dropped()).drop(*internal_columns(self.marked))

    @property
    def dropped(self) -> DataFrame:
        """The rows to quarantine, with ``_failed_expectations`` (every label they fail)."""
        rows = self.marked.where(self._dropped()).withColumn(FAILED, failed_labels(self.labels))
        return rows.drop(*internal_columns(self.marked))

    @property
    def failures(self) -> list[ExpectationResult]:
        return [result for result in self.results if not result.success]

    def raise_for_failures(self) -> None:
        """Raise QualityError when an expectation of severity ``fail`` failed."""
        failed = [result for result in self.failures if result.severity == "fail"]
        if failed:
            raise QualityError(self.table, failed)

    def dropped_by_reason(self) -> dict[str, int]:
        """Quarantined rows per failed expectation label (a row failing two counts twice)."""
        return {label: self.counts[label] for label in sorted(self.labels) if self.counts[label]}

    def release(self) -> None:
        self.marked.unpersist()

    def _dropped(self):
        return _dropped(self.labels, self.drop_labels)


def _dropped(labels: tuple[str, ...], drop_labels: tuple[str, ...]):
    return fails_any([labels.index(label) for label in drop_labels])


def _counts(
    marked: DataFrame, labels: tuple[str, ...], drop_labels: tuple[str, ...]
) -> tuple[dict[str, int], dict[str, int]]:
    """One pass over ``marked``: ``rows``, ``dropped`` rows and dropped rows per label they fail;
    and the rows failing each label."""
    dropped = _dropped(labels, drop_labels)
    indexes = range(len(labels))
    row = marked.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count_if(dropped).alias("dropped"),
        *[F.count_if(dropped & fails_any([index])).alias(f"dropped_{index}") for index in indexes],
        *[F.count_if(fails_any([index])).alias(f"failing_{index}") for index in indexes],
    ).first()
    counts = {"rows": int(row["rows"]), "dropped": int(row["dropped"])}
    counts.update({label: int(row[f"dropped_{index}"]) for index, label in enumerate(labels)})
    return counts, {label: int(row[f"failing_{index}"]) for index, label in enumerate(labels)}


def check_batch(
    frame: DataFrame,
    suite: QualitySuite,
    references: Mapping[str, DataFrame] | None = None,
    previous_rows: int | None = None,
    now: dt.datetime | None = None,
) -> QualityOutcome:
    """Flag, cache and validate a batch; see the module docstring.

    Args:
        frame: the rows about to be written.
        suite: the table's expectations.
        references: the tables ``references`` expectations point at, by name.
        previous_rows: rows validated by the table's last run (``row_count_change``).
        now: the instant ``freshness`` is measured against (default: now).
    """
    labels = tuple(e.label for e in suite.row_expectations())
    drop_labels = tuple(e.label for e in suite.row_expectations() if e.severity == "drop")
    marked = mark_failures(frame, suite, references).persist(StorageLevel.MEMORY_AND_DISK_DESER)
    # the first full pass fills the cache (a sample's partial reads would not); what follows reads
    # memory, not the source, and unique and references read the decisions marked, not join again
    counts, failing = _counts(marked, labels, drop_labels)
    samples = sample_failures(marked, suite, SAMPLE_SIZE, failing)
    masks = [c for c in marked.columns if c.startswith(MASK_PREFIX)]
    results = validate(marked.drop(*masks), suite, references, previous_rows, now, samples)
    return QualityOutcome(suite.table, results, marked, labels, drop_labels, counts)

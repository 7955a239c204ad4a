"""The quality step of a job: check a batch before it is written, and split it by severity.

One call of :func:`check_batch` caches the batch with each row's failed expectations, runs the
suite once with great-expectations on that cached frame, and returns:

- the results, one per expectation (for ``ops.quality_results``);
- the rows to write: those that fail no ``drop`` expectation (``warn`` failures are kept and counted);
- the rows to quarantine, each with the labels of every expectation it fails.

A failed ``fail`` expectation makes :meth:`QualityOutcome.raise_for_failures` raise
:class:`~lakehouse.errors.QualityError`; the caller calls it before writing anything.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.errors import QualityError
from lakehouse.quality.config import QualitySuite
from lakehouse.quality.rules import DECISION_PREFIX, FAILED, flag_failures
from lakehouse.quality.validation import ExpectationResult, validate


@dataclass
class QualityOutcome:
    """A checked batch. Call :meth:`release` when done with its frames."""

    table: str
    results: list[ExpectationResult]
    flagged: DataFrame  # every row with ``_failed_expectations`` (cached)
    drop_labels: tuple[str, ...]
    labels: tuple[str, ...]  # of every row expectation

    @property
    def passed(self) -> DataFrame:
        """The rows to write: no failed ``drop`` expectation; the flags column removed."""
        return self.flagged.where(~self._dropped()).drop(FAILED, *self._decisions())

    @property
    def dropped(self) -> DataFrame:
        """The rows to quarantine, with ``_failed_expectations`` (every label they fail)."""
        return self.flagged.where(self._dropped()).drop(*self._decisions())

    @property
    def failures(self) -> list[ExpectationResult]:
        return [result for result in self.results if not result.success]

    def raise_for_failures(self) -> None:
        """Raise QualityError when an expectation of severity ``fail`` failed."""
        failed = [result for result in self.failures if result.severity == "fail"]
        if failed:
            raise QualityError(self.table, failed)

    @functools.cached_property
    def counts(self) -> dict[str, int]:
        """``rows`` checked, ``dropped`` rows, and dropped rows per label they fail, in one pass."""
        labels = self.labels
        dropped = self._dropped()
        row = self.flagged.agg(
            F.count(F.lit(1)).alias("rows"),
            F.count_if(dropped).alias("dropped"),
            *[
                F.count_if(dropped & F.array_contains(FAILED, label)).alias(f"label_{index}")
                for index, label in enumerate(labels)
            ],
        ).first()
        counts = {"rows": int(row["rows"]), "dropped": int(row["dropped"])}
        counts.update({label: int(row[f"label_{index}"]) for index, label in enumerate(labels)})
        return counts

    def dropped_by_reason(self) -> dict[str, int]:
        """Quarantined rows per failed expectation label (a row failing two counts twice)."""
        return {label: self.counts[label] for label in sorted(self.labels) if self.counts[label]}

    def _decisions(self) -> list[str]:
        return [c for c in self.flagged.columns if c.startswith(DECISION_PREFIX)]

    def release(self) -> None:
        self.flagged.unpersist()

    def _dropped(self):
        if not self.drop_labels:
            return F.lit(False)
        return F.arrays_overlap(F.col(FAILED), F.array(*[F.lit(label) for label in self.drop_labels]))


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
    flagged = flag_failures(frame, suite, references, keep_decisions=True).persist(
        StorageLevel.MEMORY_AND_DISK_DESER
    )
    # great-expectations reads the cached rows: its many metric queries scan memory, not the source,
    # and unique and references check the decisions of the one join above instead of joining again
    results = validate(flagged.drop(FAILED), suite, references, previous_rows, now)
    drop_labels = tuple(e.label for e in suite.row_expectations() if e.severity == "drop")
    labels = tuple(e.label for e in suite.row_expectations())
    return QualityOutcome(suite.table, results, flagged, drop_labels, labels)

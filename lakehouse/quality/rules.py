"""Row-level judgements of a quality suite as Spark expressions (pure DataFrame -> DataFrame).

great-expectations reports how many rows fail each expectation; quarantining needs to know
*which* rows, at any scale, without collecting row indexes to the driver. So each row
expectation is also written as a predicate with great-expectations' semantics (a null value
fails only ``not_null``; ``unique`` flags every row of a duplicated key).

:func:`mark_failures` adds the judgements as bits: bit ``i`` of ``_failed_mask_<i // 62>`` is set
when the row fails the ``i``-th row expectation. Integers are cheap to compute, cache and count;
:func:`failed_labels` turns them into the list of labels only for the rows that need it (those
quarantined). :func:`flag_failures` gives that list for every row.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.quality.config import QualitySuite
from lakehouse.quality.kinds import DECISION_PREFIX

FAILED = "_failed_expectations"
MASK_PREFIX = "_failed_mask_"
BITS_PER_MASK = 62  # bits of one bigint mask column (the sign bit is left alone)


def mask_columns(count: int) -> list[str]:
    """The mask columns that hold ``count`` row expectations' bits."""
    return [f"{MASK_PREFIX}{index}" for index in range(max(1, -(-count // BITS_PER_MASK)))]


def _bit(index: int) -> tuple[str, int]:
    """The mask column and bit value of the ``index``-th row expectation."""
    return f"{MASK_PREFIX}{index // BITS_PER_MASK}", 1 << (index % BITS_PER_MASK)


def fails_any(indexes: Sequence[int]) -> Column:
    """True where the row fails at least one of these row expectations (by position)."""
    bits: dict[str, int] = {}
    for index in indexes:
        column, value = _bit(index)
        bits[column] = bits.get(column, 0) | value
    tests = [(F.col(column).bitwiseAND(F.lit(value)) != 0) for column, value in bits.items()]
    return functools.reduce(lambda a, b: a | b, tests, F.lit(False))


def failed_labels(labels: Sequence[str]) -> Column:
    """The labels of the row expectations a marked row fails (``labels`` in the suite's order)."""
    return F.array_compact(
        F.array(*[F.when(fails_any([index]), F.lit(label)) for index, label in enumerate(labels)])
    ).cast(T.ArrayType(T.StringType()))


def mark_failures(
    frame: DataFrame, suite: QualitySuite, references: Mapping[str, DataFrame] | None = None
) -> DataFrame:
    """``frame`` plus, for each unique and references expectation, its :func:`decision_column`,
    and the mask columns of :func:`mask_columns` (see the module docstring).

    Args:
        references: for each ``references`` expectation, the referenced table by name
            (e.g. ``{"silver.customers": frame}``); only its key column is read.
    """
    references = references or {}
    marked = frame
    expectations = suite.row_expectations()
    for expectation in expectations:  # a unique key or a reference is judged against other rows
        try:
            marked = expectation.decide(marked, references)
        except KeyError as error:
            raise KeyError(f"{suite.table}: {error.args[0]}") from None
    masks: dict[str, Column] = {name: F.lit(0).cast("bigint") for name in mask_columns(len(expectations))}
    for index, expectation in enumerate(expectations):
        column, value = _bit(index)
        masks[column] = masks[column].bitwiseOR(F.when(expectation.failing(), F.lit(value)).otherwise(0))
    return marked.withColumns(masks)


def internal_columns(frame: DataFrame) -> list[str]:
    """The decision and mask columns :func:`mark_failures` added to ``frame``."""
    return [c for c in frame.columns if c.startswith((DECISION_PREFIX, MASK_PREFIX))]


def flag_failures(
    frame: DataFrame, suite: QualitySuite, references: Mapping[str, DataFrame] | None = None
) -> DataFrame:
    """``frame`` plus ``_failed_expectations``: the labels of the row expectations each row fails
    (empty when it passes them all)."""
    marked = mark_failures(frame, suite, references)
    labels = [e.label for e in suite.row_expectations()]
    return marked.withColumn(FAILED, failed_labels(labels)).drop(*internal_columns(marked))


def sample_failures(
    marked: DataFrame, suite: QualitySuite, size: int, failing: Mapping[str, int] | None = None
) -> dict[str, list[str]]:
    """Up to ``size`` non-null values of failing rows per row expectation of a marked frame.

    One query reads failing rows until it has a few times ``size`` per expectation (usually from
    the first partition); an expectation left short is then asked for alone, which reads until it
    has its sample, unless ``failing`` (rows failing each label) says no more rows fail it.
    """
    expectations = suite.row_expectations()
    masks = mask_columns(len(expectations))
    any_failed = functools.reduce(lambda a, b: a | b, [F.col(mask) != 0 for mask in masks])
    values = [e.sample_value().alias(f"_value_{index}") for index, e in enumerate(expectations)]
    first = marked.where(any_failed).select(*masks, *values).limit(min(10_000, 4 * size * len(expectations)))
    samples: dict[str, list[str]] = {e.label: [] for e in expectations}
    seen = dict.fromkeys(samples, 0)
    for row in first.collect():
        for index, expectation in enumerate(expectations):
            column, bit = _bit(index)
            if row[column] & bit:
                seen[expectation.label] += 1
                value = row[f"_value_{index}"]
                if value is not None and len(samples[expectation.label]) < size:
                    samples[expectation.label].append(value)
    for index, expectation in enumerate(expectations):
        label = expectation.label
        if len(samples[label]) >= size or not expectation.shows_values:
            continue  # full, or only null values to show
        if failing is not None and seen[label] >= failing.get(label, 0):
            continue  # every failing row was read
        rest = marked.where(fails_any([index])).select(expectation.sample_value().alias("_value"))
        samples[label] = [row["_value"] for row in rest.where("_value IS NOT NULL").limit(size).collect()]
    return samples

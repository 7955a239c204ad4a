"""Row-level judgements of a quality suite as Spark expressions (pure DataFrame -> DataFrame).

great-expectations reports how many rows fail each expectation; quarantining needs to know
*which* rows, at any scale, without collecting row indexes to the driver. So each row
expectation is also written as a predicate with great-expectations' semantics (a null value
fails only ``not_null``; ``unique`` flags every row of a duplicated key), and
:func:`flag_failures` adds one column listing the expectations each row fails.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.quality.config import Between, InSet, IsNull, NotNull, QualitySuite, References, Regex, Unique

FAILED = "_failed_expectations"
DECISION_PREFIX = "_decided_"


def _quoted(name: str) -> Column:
    return F.col(f"`{name}`")


def _failing(expectation: object) -> Column:
    """True where the row fails the expectation."""
    if isinstance(expectation, NotNull):
        return _quoted(expectation.column).isNull()
    if isinstance(expectation, IsNull):
        return _quoted(expectation.column).isNotNull()
    if isinstance(expectation, InSet):
        column = _quoted(expectation.column)
        return column.isNotNull() & ~column.isin(list(expectation.values))
    if isinstance(expectation, Between):
        column = _quoted(expectation.column)
        outside = F.lit(False)
        if expectation.min is not None:
            outside = outside | (column < F.lit(expectation.min))
        if expectation.max is not None:
            outside = outside | (column > F.lit(expectation.max))
        return column.isNotNull() & outside
    if isinstance(expectation, Regex):
        column = _quoted(expectation.column)
        return column.isNotNull() & ~column.cast("string").rlike(expectation.pattern)
    if isinstance(expectation, Unique):
        return F.col(decision_column(expectation)).isNotNull()
    if isinstance(expectation, References):
        return _quoted(expectation.column).isNotNull() & F.col(decision_column(expectation)).isNull()
    raise TypeError(f"{type(expectation).__name__} does not judge single rows")


def decision_column(expectation: References | Unique) -> str:
    """The column :func:`flag_failures` adds (with ``keep_decisions``) for a unique or references
    expectation: true where the row's key is duplicated, or where its reference is found."""
    return f"{DECISION_PREFIX}{expectation.label}"


def _duplicated_keys(frame: DataFrame, expectation: Unique) -> DataFrame:
    """The keys held by more than one row, with a flag column; like great-expectations, a key whose
    columns are all null is not judged (nulls in part of a key compare equal)."""
    key = list(expectation.columns())
    judged = " OR ".join(f"`{name}` IS NOT NULL" for name in key)
    return (
        frame.where(judged)
        .groupBy(*[_quoted(name) for name in key])
        .count()
        .where("count > 1")
        .select(*[_quoted(name).alias(f"_key_{index}") for index, name in enumerate(key)])
        .withColumn(decision_column(expectation), F.lit(True))
    )


def flag_failures(
    frame: DataFrame,
    suite: QualitySuite,
    references: Mapping[str, DataFrame] | None = None,
    keep_decisions: bool = False,
) -> DataFrame:
    """``frame`` plus ``_failed_expectations``: the labels of the row expectations each row fails
    (empty when it passes them all).

    Args:
        references: for each ``references`` expectation, the referenced table by name
            (e.g. ``{"silver.customers": frame}``); only its key column is read.
        keep_decisions: keep, for each unique and references expectation, the column of
            :func:`decision_column`, so that a validation of the result need not join again.
    """
    references = references or {}
    flagged = frame
    helpers = []
    for expectation in suite.row_expectations():
        # a unique key or a reference is judged against other rows: join the few keys that decide it
        if isinstance(expectation, Unique):
            duplicated = _duplicated_keys(frame, expectation)
            key = expectation.columns()
            on = [_quoted(name).eqNullSafe(F.col(f"_key_{index}")) for index, name in enumerate(key)]
            flagged = flagged.join(duplicated, on, "left")
            flagged = flagged.drop(*[f"_key_{index}" for index in range(len(key))])
            helpers.append(decision_column(expectation))
        if isinstance(expectation, References):
            if expectation.table not in references:
                raise KeyError(
                    f"{suite.table}: expectation {expectation.label} needs table {expectation.table}"
                )
            keys = (
                references[expectation.table]
                .select(_quoted(expectation.to).alias("_ref_key"))
                .where("_ref_key IS NOT NULL")
                .distinct()
                .withColumn(decision_column(expectation), F.lit(True))
            )
            flagged = flagged.join(keys, _quoted(expectation.column) == F.col("_ref_key"), "left").drop(
                "_ref_key"
            )
            helpers.append(decision_column(expectation))
    checks = [
        F.when(_failing(expectation), F.lit(expectation.label)) for expectation in suite.row_expectations()
    ]
    flagged = flagged.withColumn(FAILED, F.array_compact(F.array(*checks)))
    return flagged if keep_decisions else flagged.drop(*helpers)

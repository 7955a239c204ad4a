"""Splits of a table model's rows into train, validation and test (pure DataFrame -> DataFrame).

Each function adds the ``split`` column. The random and stratified splits draw from a seeded hash
of each row's key, not from ``rand()``: the same row falls in the same split whatever the
partitioning, on every rerun, and a row added later does not move the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.models.dataset import SPLIT_COLUMN, SPLITS

_HASH_RANGE = 2**31


def _q(name: str) -> Column:
    return F.col(f"`{name}`")


def key_draw(key: Sequence[str], seed: int) -> Column:
    """A number in [0, 1) drawn from a seeded hash of the key columns: the row's lot."""
    return F.pmod(F.xxhash64(F.lit(seed), *[_q(c) for c in key]), F.lit(_HASH_RANGE)) / F.lit(
        float(_HASH_RANGE)
    )


def _by_position(position: Column, validation: float, test: float) -> Column:
    """test below ``test``, validation below ``test + validation``, train above."""
    return (
        F.when(position < F.lit(test), "test")
        .when(position < F.lit(test + validation), "validation")
        .otherwise("train")
    )


def split_randomly(
    frame: DataFrame, key: Sequence[str], validation: float, test: float, seed: int
) -> DataFrame:
    """Each row to a split by its key's lot: about the ``validation`` and ``test`` shares."""
    return frame.withColumn(SPLIT_COLUMN, _by_position(key_draw(key, seed), validation, test))


# Rows of a class ranked in one window partition: a class of more rows is ranked in buckets of
# about this many (by its key's hash), so that no task sorts a whole class of a large table
STRATUM_ROWS = 200_000


def split_stratified(
    frame: DataFrame, label: str, key: Sequence[str], validation: float, test: float, seed: int
) -> DataFrame:
    """The ``validation`` and ``test`` shares of each class, exactly (to a row per bucket).

    Rows of a class are ordered by their key's lot; the first ``test`` share of them is the test
    set, the next ``validation`` share validation. A class of one row trains. A class of more
    than ``STRATUM_ROWS`` rows is ranked in buckets of its rows (by a second hash of the key), each
    bucket split in the same shares, so the shares stay exact to a row per bucket.
    """
    sizes = frame.groupBy(_q(label)).agg(F.count(F.lit(1)).alias("_class_rows"))
    buckets = F.greatest(F.lit(1), F.ceil(F.col("_class_rows") / F.lit(STRATUM_ROWS)))
    bucket = F.pmod(F.xxhash64(F.lit(seed + 1), *[_q(c) for c in key]), buckets)
    stratum = [_q(label), F.col("_bucket")]
    window = Window.partitionBy(*stratum).orderBy("_draw", *[_q(c) for c in key])
    size = F.count(F.lit(1)).over(Window.partitionBy(*stratum))
    position = (F.row_number().over(window) - 1) / size
    return (
        frame.join(F.broadcast(sizes), label, "left")
        .withColumn("_draw", key_draw(key, seed))
        .withColumn("_bucket", bucket)
        .withColumn(
            SPLIT_COLUMN, F.when(size < 2, "train").otherwise(_by_position(position, validation, test))
        )
        .drop("_draw", "_bucket", "_class_rows")
    )


def split_by_column(frame: DataFrame, column: str) -> DataFrame:
    """The user's fold column as the split: train, validation or test (any case, spaces
    trimmed); any other value gives a null split, which training refuses."""
    value = F.lower(F.trim(_q(column).cast("string")))
    return frame.withColumn(SPLIT_COLUMN, F.when(value.isin(*SPLITS), value))


def time_bounds(
    frame: DataFrame, column: str, validation: float, test: float
) -> tuple[dt.datetime, dt.datetime]:
    """Where validation and test begin in a table model's time ``column``: the times below which
    ``1 - validation - test`` and ``1 - test`` of the rows lie (approximate quantiles, one pass)."""
    seconds = _q(column).cast("timestamp").cast("double")
    bounds = F.percentile_approx(seconds, [1 - validation - test, 1 - test], 10_000)
    # back to timestamps in Spark, so that they compare with the column as collected times do
    row = frame.select(
        F.timestamp_seconds(bounds[0]).alias("validation_from"),
        F.timestamp_seconds(bounds[1]).alias("test_from"),
    ).first()
    if row is None or row["validation_from"] is None:
        return dt.datetime.min, dt.datetime.min
    return row["validation_from"], row["test_from"]


def split_by_time_column(
    frame: DataFrame, column: str, validation_from: dt.datetime, test_from: dt.datetime
) -> DataFrame:
    """Rows at or after ``test_from`` test, at or after ``validation_from`` validation, the
    earlier ones train; a row without a time gives a null split, which training refuses."""
    time = _q(column).cast("timestamp")
    return frame.withColumn(
        SPLIT_COLUMN,
        F.when(time.isNull(), F.lit(None).cast("string"))
        .when(time >= F.lit(test_from), "test")
        .when(time >= F.lit(validation_from), "validation")
        .otherwise("train"),
    )

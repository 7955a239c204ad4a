"""Training sets: labels joined point-in-time with feature tables, split by time (pure).

The split is by label time, never by row: every training time is before every validation time,
which is before every test time, so no model is fitted on rows from the period it is judged on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.errors import ModelError
from lakehouse.features.point_in_time import point_in_time_join

SPLIT_COLUMN = "split"
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class TimeSplit:
    """Where each split begins: train is every time before ``validation_from``."""

    validation_from: dt.datetime
    test_from: dt.datetime
    times: dict[str, int]  # distinct label times per split

    def as_dict(self) -> dict[str, str]:
        return {"validation_from": str(self.validation_from), "test_from": str(self.test_from)}


def split_by_time(times: Sequence[dt.datetime], validation: float, test: float) -> TimeSplit:
    """Split the distinct label ``times``: the latest ``test`` share is the test set, the
    ``validation`` share before it validation, the rest training; each gets at least one time.

    Raises:
        ModelError: fewer than three distinct times, or too few to leave one for training.
    """
    distinct = sorted(set(times))
    count = len(distinct)
    if count < 3:
        raise ModelError(
            f"a time split needs at least 3 distinct label times (train, validation, test); "
            f"the labels have {count}: build labels for more dates"
        )
    test_times = max(1, round(count * test))
    validation_times = max(1, round(count * validation))
    train_times = count - test_times - validation_times
    if train_times < 1:
        raise ModelError(
            f"{count} distinct label times leave none for training with split.validation={validation} "
            f"and split.test={test}: lower them or build labels for more dates"
        )
    return TimeSplit(
        validation_from=distinct[train_times],
        test_from=distinct[train_times + validation_times],
        times={"train": train_times, "validation": validation_times, "test": test_times},
    )


def with_split(frame: DataFrame, time_column: str, split: TimeSplit) -> DataFrame:
    """``frame`` with a ``split`` column: train, validation or test by its ``time_column``."""
    time = F.col(f"`{time_column}`").cast("timestamp")
    label: Column = (
        F.when(time >= F.lit(split.test_from), "test")
        .when(time >= F.lit(split.validation_from), "validation")
        .otherwise("train")
    )
    return frame.withColumn(SPLIT_COLUMN, label)


def join_features(
    rows: DataFrame,
    feature_tables: Mapping[str, tuple[DataFrame, str]],
    entity: Sequence[str],
    time_column: str,
    max_age: dt.timedelta | None,
) -> DataFrame:
    """``rows`` (entity, time, anything else) with the latest row of each feature table at or
    before its time; one row per input row.

    Args:
        feature_tables: table name -> (its rows: entity, as-of column and the features chosen,
            the as-of column's name). The as-of date used comes out as ``<table>_as_of``.
        max_age: feature rows older than this at the row's time are not used (features null).
    """
    joined = rows
    for name, (features, as_of) in feature_tables.items():
        as_of_column = f"{name.split('.')[-1]}_as_of"
        joined = point_in_time_join(joined, features, entity, time_column, as_of, max_age, as_of_column)
    return joined

"""Point-in-time joins: each label row gets the latest feature row at or before its event time.

Labels and feature rows are put in one frame, sorted per entity by time (a feature row before a
label row of the same instant), and each label row takes the last feature row seen so far: one
shuffle and sort, however many feature rows an entity has, and no feature row from after the
event can be picked, because it sorts after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.errors import FeatureError


def _q(name: str) -> Column:
    return F.col(f"`{name}`")


def _feature_values(
    labels: DataFrame,
    features: DataFrame,
    entity: Sequence[str],
    event_time: str,
    feature_time: str,
    as_of_column: str,
) -> list[str]:
    """The feature columns to bring over; refused when a needed column is missing or a feature
    column's name is already a label column."""
    for frame, side, needed in (
        (labels, "labels", [*entity, event_time]),
        (features, "features", [*entity, feature_time]),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise FeatureError(f"point-in-time join: {side} lack columns {missing}")
    values = [c for c in features.columns if c not in (*entity, feature_time)]
    clashing = [c for c in [*values, as_of_column] if c in labels.columns]
    if clashing:
        raise FeatureError(
            f"point-in-time join: feature columns {clashing} are also label columns; rename them"
        )
    return values


def _stacked(
    features: DataFrame,
    feature_struct: Column,
    feature_time: str,
    labels: DataFrame,
    label_struct: Column,
    event_time: str,
    entity: Sequence[str],
) -> DataFrame:
    """Feature rows (side 0) and label rows (side 1) in one frame: entity, time, side, and each
    side's struct (null on the other side)."""
    time = T.TimestampType()
    return features.select(
        *[_q(c) for c in entity],
        _q(feature_time).cast(time).alias("_pit_time"),
        F.lit(0).alias("_pit_side"),
        feature_struct.alias("_pit_features"),
        F.lit(None).cast(labels.select(label_struct).schema[0].dataType).alias("_pit_label"),
    ).unionByName(
        labels.select(
            *[_q(c) for c in entity],
            _q(event_time).cast(time).alias("_pit_time"),
            F.lit(1).alias("_pit_side"),
            F.lit(None).cast(features.select(feature_struct).schema[0].dataType).alias("_pit_features"),
            label_struct.alias("_pit_label"),
        )
    )


def point_in_time_join(
    labels: DataFrame,
    features: DataFrame,
    entity: Sequence[str],
    event_time: str,
    feature_time: str = "as_of_date",
    max_age: dt.timedelta | None = None,
    as_of_column: str | None = None,
) -> DataFrame:
    """``labels`` with the columns of the latest ``features`` row of the same entity whose
    ``feature_time`` is at or before the row's ``event_time``.

    Args:
        labels: rows of (entity, event time, anything else, e.g. the label).
        features: a feature table (entity, ``feature_time``, features).
        entity: the entity key columns, named alike in both frames.
        event_time: the labels' time column (timestamp or date).
        feature_time: the features' time column; a date means 00:00 of that day.
        max_age: a feature row older than this at the event time is not used (its features are
            null), e.g. ``timedelta(days=7)``.
        as_of_column: name of the output column that tells the ``feature_time`` used
            (default: ``feature_time``); null when no feature row qualified.

    Raises:
        FeatureError: a column is missing, or a feature column's name is already a label column.
    """
    as_of_column = as_of_column or feature_time
    values = _feature_values(labels, features, entity, event_time, feature_time, as_of_column)
    feature_struct = F.struct(*[_q(c) for c in values], _q(feature_time).alias(as_of_column))
    label_struct = F.struct(*[_q(c) for c in labels.columns])
    time = T.TimestampType()
    both = _stacked(features, feature_struct, feature_time, labels, label_struct, event_time, entity)
    window = (
        Window.partitionBy(*[_q(c) for c in entity])
        .orderBy("_pit_time", "_pit_side")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    picked = both.withColumn("_pit_latest", F.last("_pit_features", ignorenulls=True).over(window)).where(
        "_pit_side = 1"
    )
    latest = F.col("_pit_latest")
    if max_age is not None:
        oldest = F.col("_pit_time") - F.expr(f"INTERVAL {int(max_age.total_seconds())} SECONDS")
        fresh = latest[as_of_column].cast(time) >= oldest
        latest = F.when(fresh, latest)
    return picked.select(
        *[F.col(f"_pit_label.`{c}`").alias(c) for c in labels.columns],
        *[latest[c].alias(c) for c in [*values, as_of_column]],
    )


def training_set(
    labels: DataFrame,
    feature_tables: Mapping[str, DataFrame],
    entity: Sequence[str],
    event_time: str,
    feature_time: str = "as_of_date",
    max_age: dt.timedelta | None = None,
) -> DataFrame:
    """``labels`` joined point-in-time with each feature table in turn; the as-of date used from
    table ``gold.customer_activity`` is in column ``customer_activity_as_of``.

    Args:
        feature_tables: feature tables by name (``{"gold.customer_activity": frame}``); their
            feature names must not repeat one another or a label column.
    """
    joined = labels
    for name, features in feature_tables.items():
        as_of = f"{name.split('.')[-1]}_as_of"
        joined = point_in_time_join(joined, features, entity, event_time, feature_time, max_age, as_of)
    return joined

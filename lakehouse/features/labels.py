"""Training labels (pure DataFrame -> DataFrame)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def churn_cutoffs(
    first_day: dt.date, end: dt.date, active_days: int, horizon_days: int, every_days: int
) -> list[dt.date]:
    """Cutoff dates whose look-back and horizon are both inside the observed days
    ``[first_day, end)``: from ``first_day + active_days``, every ``every_days``, while
    ``cutoff + horizon_days <= end``."""
    cutoffs, cutoff = [], first_day + dt.timedelta(days=active_days)
    while cutoff + dt.timedelta(days=horizon_days) <= end:
        cutoffs.append(cutoff)
        cutoff += dt.timedelta(days=every_days)
    return cutoffs


def churn_labels(
    events: DataFrame,
    entity: str,
    timestamp: str,
    cutoffs: Sequence[dt.date],
    active_days: int,
    horizon_days: int,
) -> DataFrame:
    """One row per cutoff and entity active at it (an event in the ``active_days`` before the
    cutoff): ``entity``, ``cutoff_date``, ``label_time`` (the cutoff's 00:00, the time a model
    would score at) and ``churned`` (1 when the entity has no event in the ``horizon_days``
    from the cutoff on, else 0).

    Only days before the cutoff decide who is in the population, and only days from the cutoff
    on decide the label, so a feature row as of the cutoff cannot hold the answer.
    """
    if not cutoffs:
        raise ValueError("churn_labels: no cutoff dates")
    spark = events.sparkSession
    dates = spark.createDataFrame([(c,) for c in cutoffs], "cutoff_date date")
    days = (
        events.select(F.col(entity), F.to_date(F.col(timestamp)).alias("_day"))
        .where(F.col(entity).isNotNull())
        .distinct()
    )
    lo = min(cutoffs) - dt.timedelta(days=active_days)
    hi = max(cutoffs) + dt.timedelta(days=horizon_days)
    days = days.where((F.col("_day") >= F.lit(lo)) & (F.col("_day") < F.lit(hi)))
    paired = days.join(
        F.broadcast(dates),
        (F.col("_day") >= F.date_sub("cutoff_date", active_days))
        & (F.col("_day") < F.date_add("cutoff_date", horizon_days)),
    )
    per_cutoff = paired.groupBy(entity, "cutoff_date").agg(
        F.count_if(F.col("_day") < F.col("cutoff_date")).alias("_before"),
        F.count_if(F.col("_day") >= F.col("cutoff_date")).alias("_after"),
    )
    return per_cutoff.where("_before > 0").select(
        F.col(entity),
        "cutoff_date",
        F.col("cutoff_date").cast("timestamp").alias("label_time"),
        F.when(F.col("_after") == 0, 1).otherwise(0).alias("churned"),
    )

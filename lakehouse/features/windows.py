"""Window features per entity and as-of date (pure DataFrame -> DataFrame).

The row of an entity for as-of date ``D`` summarises the events strictly before ``D`` (00:00,
session time zone, UTC here): a feature with a 7-day window aggregates the days ``D-7 .. D-1``.
Such a row is known at ``D`` 00:00, which is what makes point-in-time joins leak-free.

Events are first reduced to one row per entity and day (partial counts, sums, minima, maxima),
then each day's row is copied to the as-of dates whose windows hold it (at most the longest
window, and only dates of the requested range), and the copies are aggregated per entity and
date. A daily run over one date reads each event day once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse.config.features import FeatureSettings, FeatureTableSettings

DAY = "_day"


def _q(name: str) -> Column:
    return F.col(f"`{name}`")


def _condition(feature: FeatureSettings) -> Column:
    return F.expr(feature.where) if feature.where else F.lit(True)


def _partials(feature_name: str, feature: FeatureSettings) -> list[Column]:
    """The per-day partial aggregates of one feature."""
    when = _condition(feature)
    value = _q(feature.column) if feature.column else None
    p = f"{feature_name}__"
    if feature.agg == "count":
        return [F.count_if(when).alias(p + "n")]
    if feature.agg == "sum":
        return [F.sum(F.when(when, value)).alias(p + "s")]
    if feature.agg == "avg":
        return [
            F.sum(F.when(when, value).cast("double")).alias(p + "s"),
            F.count_if(when & value.isNotNull()).alias(p + "n"),
        ]
    if feature.agg in ("min", "max"):
        aggregate = F.min if feature.agg == "min" else F.max
        return [aggregate(F.when(when, value)).alias(p + feature.agg)]
    if feature.agg == "share":
        return [F.count_if(when).alias(p + "n"), F.count(F.lit(1)).alias(p + "d")]
    if feature.agg == "days_since_last":
        return [F.max(F.when(when, F.col(DAY))).alias(p + "last")]
    raise ValueError(f"feature {feature_name}: agg {feature.agg} has no partials")


def _combined(feature_name: str, feature: FeatureSettings, as_of: Column) -> Column:
    """The feature's value for ``as_of`` from the day rows inside its window."""
    inside = F.col(DAY) >= F.date_sub(as_of, feature.window_days())
    p = f"{feature_name}__"

    def total(name: str) -> Column:
        return F.sum(F.when(inside, F.col(p + name)))

    if feature.agg in ("count", "sum"):
        return total("n" if feature.agg == "count" else "s")
    if feature.agg == "avg":
        return total("s") / total("n")
    if feature.agg == "min":
        return F.min(F.when(inside, F.col(p + "min")))
    if feature.agg == "max":
        return F.max(F.when(inside, F.col(p + "max")))
    if feature.agg == "share":
        return total("n") / F.when(total("d") > 0, total("d"))
    if feature.agg == "days_since_last":
        return F.datediff(as_of, F.max(F.when(inside, F.col(p + "last"))))
    raise ValueError(f"feature {feature_name}: agg {feature.agg} is not windowed")


def _source_features(
    name: str, events: DataFrame, table: FeatureTableSettings, start: dt.date, end: dt.date
) -> DataFrame | None:
    """``(entity..., as_of_date, feature...)`` of the features of one source, for dates in
    ``[start, end]`` with at least one event in some window (others are filled by the caller)."""
    features = {n: f for n, f in table.features.items() if f.source == name}
    if not features:
        return None
    source = table.sources[name]
    longest = max(f.window_days() for f in features.values())
    entity = [_q(c) for c in table.entity]
    day = F.to_date(_q(source.timestamp))
    rows = events.where(source.where) if source.where else events
    # only the days some requested as-of date can see
    rows = rows.withColumn(DAY, day).where(
        (F.col(DAY) >= F.lit(start - dt.timedelta(days=longest))) & (F.col(DAY) < F.lit(end))
    )
    partials = [c for n, f in features.items() for c in _partials(n, f)]
    daily = rows.groupBy(*entity, DAY).agg(*partials)
    first = F.greatest(F.date_add(F.col(DAY), 1), F.lit(start))
    last = F.least(F.date_add(F.col(DAY), longest), F.lit(end))
    spread = daily.where(first <= last).withColumn(table.timestamp, F.explode(F.sequence(first, last)))
    as_of = F.col(table.timestamp)
    return spread.groupBy(*entity, table.timestamp).agg(
        *[_combined(n, f, as_of).alias(n) for n, f in features.items()]
    )


def _with_attributes_as_of(
    rows: DataFrame, spine: DataFrame, table: FeatureTableSettings, attributes: Mapping[str, str]
) -> DataFrame:
    """``rows`` with each attribute taken from the spine version valid at the as-of date's 00:00
    (``valid_from <= D < valid_to``): a later change of the attribute cannot leak into the past."""
    settings = table.spine
    versions = spine.select(
        *[_q(c).alias(f"_v_{c}") for c in table.entity],
        _q(settings.valid_from).alias("_v_from"),
        _q(settings.valid_to).alias("_v_to"),
        *[_q(column).alias(name) for name, column in attributes.items()],
    )
    at = F.col(table.timestamp).cast("timestamp")
    on = [F.col(c) == F.col(f"_v_{c}") for c in table.entity]
    on += [F.col("_v_from") <= at, F.col("_v_to").isNull() | (F.col("_v_to") > at)]
    joined = rows.join(versions, on, "left")
    # versions of one entity do not overlap, so at most one matches; guard against bad history
    return joined.dropDuplicates([*table.entity, table.timestamp]).drop(
        *[f"_v_{c}" for c in table.entity], "_v_from", "_v_to"
    )


def as_of_dates(start: dt.date, end: dt.date, spark) -> DataFrame:
    """One row per date of ``[start, end]``."""
    return spark.range(1).select(F.explode(F.sequence(F.lit(start), F.lit(end))).alias("as_of_date"))


def compute_features(
    table: FeatureTableSettings,
    spine: DataFrame,
    sources: Mapping[str, DataFrame],
    start: dt.date,
    end: dt.date,
) -> DataFrame:
    """The feature table's rows for the as-of dates ``start .. end`` (inclusive).

    Args:
        table: the table's declaration (features.yml).
        spine: the entities (with the spine's ``since`` column when declared).
        sources: each declared source's rows, by source name.
    """
    if end < start:
        raise ValueError(f"as-of dates: end {end} is before start {start}")
    missing = [name for name in table.sources if name not in sources]
    if missing:
        raise KeyError(f"feature table needs sources {missing}")
    ts = table.timestamp
    entity = [_q(c) for c in table.entity]
    spine_settings = table.spine
    people = spine.where(spine_settings.where) if spine_settings.where else spine
    since = F.to_date(_q(spine_settings.since)) if spine_settings.since else F.lit(None).cast("date")
    attributes = {n: f.column for n, f in table.features.items() if f.agg == "attribute"}
    versioned = bool(attributes) and spine_settings.valid_from is not None
    current = [] if versioned else [_q(c).alias(n) for n, c in attributes.items()]
    people = people.select(*entity, since.alias("_since"), *current).dropDuplicates(table.entity)
    dates = as_of_dates(start, end, spine.sparkSession).withColumnRenamed("as_of_date", ts)
    rows = people.crossJoin(dates).where(F.col("_since").isNull() | (F.col("_since") < F.col(ts)))
    if versioned:
        rows = _with_attributes_as_of(rows, spine, table, attributes)
    for name in table.sources:
        computed = _source_features(name, sources[name], table, start, end)
        if computed is not None:
            rows = rows.join(computed, [*table.entity, ts], "left")
    values = []
    for name, feature in table.features.items():
        value = F.datediff(F.col(ts), F.col("_since")) if feature.agg == "days_since" else _q(name)
        default = feature.default
        if default is None and feature.agg in ("count", "sum"):
            default = 0
        if default is not None:
            value = F.coalesce(value, F.lit(default))
        values.append(value.cast(feature.type).alias(name))
    return rows.select(*entity, F.col(ts), *values)

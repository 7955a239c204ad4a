"""Build feature and label tables for a range of dates: read, compute, write (used by ``gold_features``).

Which dates: a backfill gives ``start`` and ``end``; otherwise a run computes the dates after
the table's latest one, up to the data's own clock (the day after the newest event of the
sources: the first as-of date that sees all the data). Each run writes its dates with Delta's
``replaceWhere``, so rerunning a date replaces that date only, and other dates stay as they were;
a rerun whose rows are the stored ones writes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.features import ChurnLabelSettings, FeatureTableSettings, duration_days
from lakehouse.errors import FeatureError, TableNotFoundError
from lakehouse.features.labels import churn_cutoffs, churn_labels
from lakehouse.features.windows import compute_features
from lakehouse.io.delta_store import DeltaStore
from lakehouse.io.table_spec import TableSpec


@dataclass
class BuildResult:
    """What one run did to one table."""

    table: str
    start: dt.date | None = None
    end: dt.date | None = None
    rows: int = 0
    reason: str = ""  # why nothing was written


def feature_table_name(name: str) -> str:
    return f"gold.{name}"


def _read(tables: DeltaStore, table: str, key: str) -> DataFrame:
    if not tables.exists(table):
        raise TableNotFoundError(f"{key}: table {table} does not exist yet; build it first")
    return tables.read(table)


def _day_range(frame: DataFrame, timestamp: str) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day with an event."""
    row = frame.agg(F.min(F.to_date(F.col(timestamp))), F.max(F.to_date(F.col(timestamp)))).first()
    return row[0], row[1]


def _latest(tables: DeltaStore, table: str, column: str) -> dt.date | None:
    if not tables.exists(table):
        return None
    return tables.read(table).agg(F.max(column)).first()[0]


def feature_spec(table: str, settings: FeatureTableSettings, rows: DataFrame) -> TableSpec:
    """The declaration of a feature table: each feature's description is its column comment."""
    fields = [
        T.StructField(f.name, f.dataType, f.nullable, {"comment": settings.features[f.name].description})
        if f.name in settings.features
        else f
        for f in rows.schema.fields
    ]
    return TableSpec(
        name=table,
        schema=T.StructType(fields),
        key=(*settings.entity, settings.timestamp),
        partition_by=(settings.timestamp,),
        comment=settings.description,
        drift="evolve",  # a feature added to features.yml is added to the table
    )


def build_feature_table(
    tables: DeltaStore,
    name: str,
    settings: FeatureTableSettings,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> BuildResult:
    """Compute and write the feature table's as-of dates (see the module docstring)."""
    table = feature_table_name(name)
    key = f"features.tables.{name}"
    spine = _read(tables, settings.spine.table, f"{key}.spine")
    sources = {s: _read(tables, src.table, f"{key}.sources.{s}") for s, src in settings.sources.items()}
    spine_settings = settings.spine
    spine_needed = [
        *settings.entity,
        spine_settings.since,
        spine_settings.valid_from,
        spine_settings.valid_to,
    ]
    spine_needed += [f.column for f in settings.features.values() if f.agg == "attribute"]
    spine_missing = [c for c in spine_needed if c and c not in spine.columns]
    if spine_missing:
        raise FeatureError(f"{key}.spine: {spine_settings.table} lacks columns {spine_missing}")
    for source, frame in sources.items():
        needed = [*settings.entity, settings.sources[source].timestamp]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            table_name = settings.sources[source].table
            raise FeatureError(f"{key}.sources.{source}: {table_name} lacks columns {missing}")
    days = [_day_range(frame, settings.sources[s].timestamp) for s, frame in sources.items()]
    firsts, lasts = [d[0] for d in days if d[0]], [d[1] for d in days if d[1]]
    result = BuildResult(table)
    if not lasts:
        result.reason = "no events in the sources yet"
        return result
    clock = max(lasts) + dt.timedelta(days=1)  # the first as-of date that sees every event
    if start is None:
        latest = _latest(tables, table, settings.timestamp)
        start = latest + dt.timedelta(days=1) if latest else min(firsts) + dt.timedelta(days=1)
    end = end or clock
    result.start, result.end = start, end
    if start > end:
        result.reason = f"up to date (latest as-of date {start - dt.timedelta(days=1)})"
        return result
    rows = compute_features(settings, spine, sources, start, end).persist()
    try:
        where = f"{settings.timestamp} >= DATE'{start}' AND {settings.timestamp} <= DATE'{end}'"
        if tables.exists(table) and same_rows(tables.read(table).where(where), rows):
            result.reason = f"unchanged: the stored rows of {start} .. {end} are what the sources give now"
            return result
        spec = feature_spec(table, settings, rows)
        result.rows = tables.overwrite_partition(table, rows, where, spec=spec)
        return result
    finally:
        rows.unpersist()


def same_rows(stored: DataFrame, computed: DataFrame) -> bool:
    """True when ``stored`` holds exactly the rows of ``computed`` (same columns and types, same
    rows as a multiset), so that rewriting them would change nothing but the table's version.

    A rerun of a date whose sources did not change then writes nothing (no new Delta version, no
    change feed rows for the scorer to read again).
    """

    def columns(frame: DataFrame) -> list[tuple[str, T.DataType]]:
        return sorted(
            ((field.name, field.dataType) for field in frame.schema.fields), key=lambda pair: pair[0]
        )

    if columns(stored) != columns(computed):
        return False
    stored = stored.select(*computed.columns)
    if stored.count() != computed.count():
        return False
    return computed.exceptAll(stored).isEmpty()


def build_churn_labels(
    tables: DeltaStore,
    name: str,
    settings: ChurnLabelSettings,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> BuildResult:
    """Write the labels of every cutoff whose horizon the data covers (new cutoffs only, unless a
    backfill range is given)."""
    key = f"features.labels.{name}"
    events = _read(tables, settings.source, f"{key}.source")
    if settings.where:
        events = events.where(settings.where)
    first, last = _day_range(events, settings.timestamp)
    result = BuildResult(settings.table)
    if last is None:
        result.reason = "no events yet"
        return result
    active, horizon = duration_days(settings.active), duration_days(settings.horizon)
    every = duration_days(settings.every)
    cutoffs = churn_cutoffs(first, last + dt.timedelta(days=1), active, horizon, every)
    if start is None:
        latest = _latest(tables, settings.table, "cutoff_date")
        start = latest + dt.timedelta(days=1) if latest else None
    cutoffs = [c for c in cutoffs if (start is None or c >= start) and (end is None or c <= end)]
    if not cutoffs:
        result.reason = "no new cutoff whose horizon the data covers"
        return result
    result.start, result.end = cutoffs[0], cutoffs[-1]
    labels = churn_labels(events, settings.entity, settings.timestamp, cutoffs, active, horizon)
    spec = TableSpec(
        name=settings.table,
        schema=labels.schema,
        key=(settings.entity, "cutoff_date"),
        comment=f"churn labels: no order in the {settings.horizon} after the cutoff, among customers "
        f"with an order in the {settings.active} before it",
    )
    where = f"cutoff_date >= DATE'{cutoffs[0]}' AND cutoff_date <= DATE'{cutoffs[-1]}'"
    result.rows = tables.overwrite_partition(settings.table, labels, where, spec=spec)
    return result

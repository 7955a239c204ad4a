"""What features exist: each feature of features.yml with its table, definition and freshness."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.config.model import LakehouseConfig
from lakehouse.features.build import feature_table_name
from lakehouse.io.delta_store import DeltaStore
from lakehouse.storage.layout import StorageLayout


@dataclass(frozen=True)
class FeatureEntry:
    table: str
    feature: str
    type: str
    definition: str  # e.g. "sum(total_amount) of orders over 30d"
    description: str
    latest: str  # the newest as-of date written, or "not built"


def _definition(feature) -> str:
    if feature.agg == "days_since":
        return "days since spine.since"
    if feature.agg == "attribute":
        return f"spine.{feature.column} as of the date"
    what = f"{feature.agg}({feature.column})" if feature.column else feature.agg
    where = f" where {feature.where}" if feature.where else ""
    return f"{what} of {feature.source}{where} over {feature.window}"


def list_features(spark: SparkSession, config: LakehouseConfig) -> list[FeatureEntry]:
    """Every declared feature; ``latest`` read from its table (one aggregate per table)."""
    tables = DeltaStore(spark, StorageLayout.from_config(config))
    entries = []
    for name, settings in config.features.tables.items():
        table = feature_table_name(name)
        latest = "not built"
        if tables.exists(table):
            row = tables.read(table).agg(F.max(settings.timestamp).alias("latest")).first()
            latest = str(row["latest"]) if row["latest"] else "empty"
        entries += [
            FeatureEntry(table, feature, f.type, _definition(f), f.description, latest)
            for feature, f in settings.features.items()
        ]
    return entries

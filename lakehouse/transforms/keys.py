"""Key handling: reduce a frame to one row per business key."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def latest_per_key(frame: DataFrame, keys: Sequence[str], order_by: str | None = None) -> DataFrame:
    """Keep one row per key: the one with the greatest ``order_by`` value.

    Args:
        frame: any rows carrying the key columns.
        keys: the business key columns.
        order_by: the column whose greatest value wins (e.g. ``updated_at``); without it an
            arbitrary row of each key is kept.

    Returns:
        The same columns, one row per distinct key. Ties on ``order_by`` keep one of the tied
        rows; nulls in ``order_by`` lose to any value.

    Raises:
        ValueError: no key, or a key or ordering column the frame does not have.
    """
    if not keys:
        raise ValueError("latest_per_key needs at least one key column")
    missing = [column for column in [*keys, *([order_by] if order_by else [])] if column not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the frame (columns: {frame.columns})")
    if order_by is None:
        return frame.dropDuplicates(list(keys))
    rank = Window.partitionBy(*keys).orderBy(F.col(order_by).desc_nulls_last())
    ranked = frame.withColumn("__rank", F.row_number().over(rank))
    return ranked.where(F.col("__rank") == 1).drop("__rank")

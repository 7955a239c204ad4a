"""A gold table builder as a user's project would write one: a pure function of its sources."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def orders_per_customer(sources: Mapping[str, DataFrame]) -> DataFrame:
    """One row per customer with an order: ``customer_id``, ``orders``, ``spend``.

    Args:
        sources: the gold table's sources by table name; reads ``silver.orders``.

    Returns:
        The table's rows.
    """
    return (
        sources["silver.orders"]
        .groupBy("customer_id")
        .agg(F.count(F.lit(1)).alias("orders"), F.sum("amount").alias("spend"))
    )

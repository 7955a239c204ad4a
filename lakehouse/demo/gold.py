"""The demo shop's gold business tables: the incremental builders that conf/base/gold.yml names.

``gold.daily_sales`` recomputes only the order dates the silver changes touched (Delta
``replaceWhere`` of those dates); ``gold.customer_value`` only the customers they touched (MERGE by
customer). The figures themselves are the pure functions of :mod:`lakehouse.gold.sales`. The
framework does not import this module: the configuration names it, as a user's project names its own.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.gold.build import GoldTable
from lakehouse.gold.sales import customer_value, daily_sales
from lakehouse.io.delta_store import DeltaStore


def build_daily_sales(
    store: DeltaStore,
    table: GoldTable,
    current: Mapping[str, DataFrame],
    changes: Mapping[str, DataFrame] | None,
) -> tuple[int, str]:
    """Write ``gold.daily_sales`` (one row per order date and product): whole, or the order dates
    that the changes of orders, order lines or products touched.

    Args:
        store: the table store.
        table: the gold table (name, key, comment).
        current: ``silver.orders``, ``silver.order_lines``, ``silver.products`` as of this run.
        changes: their changed rows (old and new side) since the last run; None: build whole.

    Returns:
        The rows written and the order dates touched.
    """
    orders, lines, products = (current[f"silver.{n}"] for n in ("orders", "order_lines", "products"))
    if changes is None:
        rows = daily_sales(orders, lines, products)
        return store.overwrite(table.name, rows, spec=table.spec(rows)), "everything"
    # the orders whose lines count differently now: changed orders, lines, or products sold
    repriced = lines.join(changes["silver.products"].select("product_id"), "product_id").select("order_id")
    touched = (
        changes["silver.orders"]
        .select("order_id")
        .unionByName(changes["silver.order_lines"].select("order_id"))
        .unionByName(repriced)
    )
    dated = (
        changes["silver.orders"]
        .select(F.to_date("ordered_at").alias("d"))
        .unionByName(orders.join(touched, "order_id", "left_semi").select(F.to_date("ordered_at").alias("d")))
    )
    dates = sorted(r["d"] for r in dated.where("d IS NOT NULL").distinct().collect())
    if not dates:
        return 0, "no order date"
    listed = ", ".join(f"DATE'{d}'" for d in dates)
    rows = daily_sales(orders.where(f"to_date(ordered_at) IN ({listed})"), lines, products)
    written = store.overwrite_partition(table.name, rows, f"order_date IN ({listed})")
    return written, f"{len(dates)} order date(s) {dates[0]} .. {dates[-1]}"


def build_customer_value(
    store: DeltaStore,
    table: GoldTable,
    current: Mapping[str, DataFrame],
    changes: Mapping[str, DataFrame] | None,
) -> tuple[int, str]:
    """Write ``gold.customer_value`` (one row per current customer): whole, or merged for the
    customers whose orders or customer rows changed.

    Args:
        store: the table store.
        table: the gold table (name, key, comment).
        current: ``silver.orders`` and ``silver.customers`` as of this run.
        changes: their changed rows since the last run; None: build whole.

    Returns:
        The rows written (inserted and updated) and the customers touched.
    """
    orders, customers = current["silver.orders"], current["silver.customers"]
    if changes is None:
        rows = customer_value(orders, customers)
        return store.overwrite(table.name, rows, spec=table.spec(rows)), "everything"
    touched = (
        changes["silver.orders"]
        .select("customer_id")
        .unionByName(changes["silver.customers"].select("customer_id"))
        .where("customer_id IS NOT NULL")
        .distinct()
    )
    count = touched.count()
    if not count:
        return 0, "no customer"
    rows = customer_value(
        orders.join(touched, "customer_id", "left_semi"), customers.join(touched, "customer_id", "left_semi")
    )
    merged = store.merge(table.name, rows, list(table.key), spec=table.spec(rows))
    return merged["inserted"] + merged["updated"], f"{count} customer(s)"

"""Build the gold tables from silver, incrementally (used by ``gold_features``).

The first run (or ``full_refresh``) builds a table whole. Later runs read the silver changes
since the versions recorded in ``ops.table_progress`` (Delta's change data feed, old and new side
of each change) and recompute only what they feed: the order dates touched, for daily sales
(Delta ``replaceWhere`` of those dates); the customers touched, for customer value (MERGE by
customer). No change in any source: nothing is read or written. Each write is followed by
OPTIMIZE with Z-ordering on the columns readers filter by, and the versions read are recorded last.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.errors import TableNotFoundError
from lakehouse.gold.sales import customer_value, daily_sales
from lakehouse.io.progress import last_source_version, record_source_versions
from lakehouse.io.table_spec import TableSpec
from lakehouse.runs.context import JobContext


@dataclass
class GoldResult:
    """What one run did to one gold table."""

    table: str
    mode: str = ""  # full | incremental | skipped
    rows: int = 0
    touched: str = ""  # what the changes touched, e.g. "3 order dates"
    files: dict[str, int] = field(default_factory=dict)  # OPTIMIZE's files added and removed


@dataclass(frozen=True)
class GoldTable:
    name: str
    sources: tuple[str, ...]
    key: tuple[str, ...]
    zorder_by: tuple[str, ...]
    comment: str
    build: Callable[[JobContext, GoldTable, dict[str, DataFrame], dict[str, DataFrame] | None], tuple]


def _versions(context: JobContext, table: GoldTable, full_refresh: bool) -> tuple[dict, dict]:
    missing = [s for s in table.sources if not context.tables.exists(s)]
    if missing:
        raise TableNotFoundError(f"{table.name}: needs {missing}; run silver_refine first")
    now = {s: context.tables.version(s) for s in table.sources}
    last = {
        s: None if full_refresh else last_source_version(context.spark, context.layout, table.name, s)
        for s in table.sources
    }
    return now, last


def build_gold_table(context: JobContext, table: GoldTable, full_refresh: bool = False) -> GoldResult:
    """Bring one gold table up to date with its silver sources (see the module docstring)."""
    now, last = _versions(context, table, full_refresh)
    result = GoldResult(table.name)
    whole = not context.tables.exists(table.name) or any(v is None for v in last.values())
    if not whole and all(last[s] == now[s] for s in table.sources):
        result.mode = "skipped"
        return result
    if whole:
        for source in table.sources:  # so that the next run reads only the changes
            context.tables.enable_change_feed(source)
        now = {s: context.tables.version(s) for s in table.sources}
    current = {s: context.tables.read(s, version=now[s]) for s in table.sources}
    changes = (
        None
        if whole
        else {s: context.tables.changes(s, last[s], now[s], with_old_rows=True) for s in table.sources}
    )
    result.mode = "full" if whole else "incremental"
    result.rows, result.touched = table.build(context, table, current, changes)
    if result.rows:
        result.files = context.tables.optimize(table.name, table.zorder_by)
    record_source_versions(context.spark, context.layout, table.name, now, context.run_id)
    return result


def _spec(table: GoldTable, rows: DataFrame) -> TableSpec:
    return TableSpec(
        name=table.name, schema=rows.schema, key=table.key, comment=table.comment, drift="evolve"
    )


def _build_daily_sales(context, table, current, changes) -> tuple[int, str]:
    orders, lines, products = (current[f"silver.{n}"] for n in ("orders", "order_lines", "products"))
    if changes is None:
        rows = daily_sales(orders, lines, products)
        return context.tables.overwrite(table.name, rows, spec=_spec(table, rows)), "everything"
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
    written = context.tables.overwrite_partition(table.name, rows, f"order_date IN ({listed})")
    return written, f"{len(dates)} order date(s) {dates[0]} .. {dates[-1]}"


def _build_customer_value(context, table, current, changes) -> tuple[int, str]:
    orders, customers = current["silver.orders"], current["silver.customers"]
    if changes is None:
        rows = customer_value(orders, customers)
        return context.tables.overwrite(table.name, rows, spec=_spec(table, rows)), "everything"
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
    merged = context.tables.merge(table.name, rows, list(table.key), spec=_spec(table, rows))
    return merged["inserted"] + merged["updated"], f"{count} customer(s)"


GOLD_TABLES = (
    GoldTable(
        "gold.daily_sales",
        ("silver.orders", "silver.order_lines", "silver.products"),
        ("order_date", "product_id"),
        ("order_date", "product_id"),
        "Sales per order date and product (billed orders; returned ones also counted apart)",
        _build_daily_sales,
    ),
    GoldTable(
        "gold.customer_value",
        ("silver.orders", "silver.customers"),
        ("customer_id",),
        ("customer_id",),
        "Per current customer: orders, returns, spend, first and last order",
        _build_customer_value,
    ),
)

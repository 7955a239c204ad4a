"""Gold business tables: hand-computed figures, and incremental runs equal to a full rebuild."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from lakehouse.config.features import FeatureStoreSettings
from lakehouse.config.model import LakehouseConfig
from lakehouse.gold.sales import customer_value, daily_sales
from lakehouse.io.delta_store import DeltaStore
from lakehouse.io.table_spec import TableSpec
from lakehouse.runs.runner import run_job
from lakehouse.storage.layout import StorageLayout

ORDERS = (
    "order_id bigint, customer_id bigint, ordered_at timestamp, status string, total_amount decimal(12,2)"
)
LINES = (
    "order_id bigint, line_no int, product_id bigint, quantity int, unit_price decimal(10,2), "
    "discount_pct double"
)
PRODUCTS = "product_id bigint, category string"
CUSTOMERS = "customer_id bigint, segment string, country string, signup_date date, is_current boolean"


def frames(spark):
    orders = spark.createDataFrame(
        [
            (1, 7, dt.datetime(2026, 1, 1, 9), "paid", Decimal("25.00")),
            (2, 7, dt.datetime(2026, 1, 1, 18), "returned", Decimal("9.00")),
            (3, 8, dt.datetime(2026, 1, 2, 9), "cancelled", Decimal("50.00")),
            (4, 8, dt.datetime(2026, 1, 2, 10), "paid", Decimal("10.00")),
        ],
        ORDERS,
    )
    lines = spark.createDataFrame(
        [
            (1, 1, 100, 2, Decimal("10.00"), 0.0),  # 20.00
            (1, 2, 101, 1, Decimal("5.00"), 0.0),  # 5.00
            (2, 1, 100, 1, Decimal("10.00"), 0.1),  # 9.00, returned
            (3, 1, 100, 5, Decimal("10.00"), 0.0),  # cancelled: nowhere
            (4, 1, 101, 2, Decimal("5.00"), 0.0),  # 10.00
        ],
        LINES,
    )
    products = spark.createDataFrame([(100, "shoes"), (101, "socks")], PRODUCTS)
    customers = spark.createDataFrame(
        [
            (7, "vip", "DE", dt.date(2025, 1, 1), True),
            (8, "budget", "FR", dt.date(2025, 6, 1), True),
            (8, "regular", "FR", dt.date(2025, 6, 1), False),
            (9, "budget", "PL", dt.date(2025, 12, 1), True),
        ],
        CUSTOMERS,
    )
    return orders, lines, products, customers


def test_daily_sales_and_customer_value_match_hand_computed_figures(spark):
    orders, lines, products, customers = frames(spark)
    sales = {
        (r["order_date"].day, r["product_id"]): r for r in daily_sales(orders, lines, products).collect()
    }
    assert sorted(sales) == [(1, 100), (1, 101), (2, 101)]
    shoes = sales[(1, 100)]
    assert (shoes["category"], shoes["orders"], shoes["units"]) == ("shoes", 2, 3)
    assert (shoes["gross_revenue"], shoes["returned_revenue"], shoes["net_revenue"]) == (
        Decimal("29.00"),
        Decimal("9.00"),
        Decimal("20.00"),
    )
    assert sales[(2, 101)]["gross_revenue"] == Decimal("10.00")  # the cancelled order is not counted

    value = {r["customer_id"]: r for r in customer_value(orders, customers).collect()}
    assert sorted(value) == [7, 8, 9]
    assert (value[7]["orders"], value[7]["returns"], value[7]["net_spend"]) == (2, 1, Decimal("25.00"))
    assert value[7]["avg_order_value"] == Decimal("17.00")
    assert (value[8]["segment"], value[8]["orders"], value[8]["gross_spend"]) == (
        "budget",
        1,
        Decimal("10.00"),
    )
    assert (value[9]["orders"], value[9]["net_spend"], value[9]["last_order_at"]) == (
        0,
        Decimal("0.00"),
        None,
    )


def test_incremental_runs_equal_a_full_rebuild_and_a_rerun_writes_nothing(spark, lakehouse_config):
    config: LakehouseConfig = lakehouse_config.model_copy(update={"features": FeatureStoreSettings()})
    tables = DeltaStore(spark, StorageLayout.from_config(config))
    orders, lines, products, customers = frames(spark)
    for name, frame in (
        ("orders", orders),
        ("order_lines", lines),
        ("products", products),
        ("customers", customers),
    ):
        tables.append(f"silver.{name}", frame, spec=TableSpec(f"silver.{name}", frame.schema))

    first = run_job("gold_features", config, spark=spark)
    assert first.rows_written == {"gold.daily_sales": 3, "gold.customer_value": 3}

    # order 4 is returned; a new order of customer 9 on Jan 3
    update = spark.createDataFrame(
        [
            (4, 8, dt.datetime(2026, 1, 2, 10), "returned", Decimal("10.00")),
            (5, 9, dt.datetime(2026, 1, 3, 10), "paid", Decimal("5.00")),
        ],
        ORDERS,
    )
    tables.merge("silver.orders", update, ["order_id"])
    tables.append("silver.order_lines", spark.createDataFrame([(5, 1, 101, 1, Decimal("5.00"), 0.0)], LINES))
    before = {
        r["order_date"]: r for r in tables.read("gold.daily_sales").collect() if r["order_date"].day == 1
    }

    second = run_job("gold_features", config, spark=spark)
    assert second.rows_written["gold.customer_value"] == 2  # customers 8 and 9
    writes = tables.history("gold.daily_sales").where("operation = 'WRITE'").orderBy("version").collect()
    # only the order dates the changes touched were replaced (Delta rewrites the files holding them)
    assert writes[-1]["operationParameters"]["mode"] == "Overwrite"
    assert "DATE'2026-01-02', DATE'2026-01-03'" in writes[-1]["operationParameters"]["predicate"]
    current = {
        name: tables.read(f"silver.{name}") for name in ("orders", "order_lines", "products", "customers")
    }
    rebuilt = daily_sales(current["orders"], current["order_lines"], current["products"])
    assert sorted(tables.read("gold.daily_sales").collect()) == sorted(rebuilt.collect())
    assert sorted(tables.read("gold.customer_value").collect()) == sorted(
        customer_value(current["orders"], current["customers"]).collect()
    )
    after = {
        r["order_date"]: r for r in tables.read("gold.daily_sales").collect() if r["order_date"].day == 1
    }
    assert after == before  # Jan 1 was not rewritten

    version = tables.version("gold.daily_sales")
    assert run_job("gold_features", config, spark=spark).rows_written == {}
    assert tables.version("gold.daily_sales") == version

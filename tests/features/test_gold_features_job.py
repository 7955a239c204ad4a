"""The gold_features job: new dates only, backfills and reruns that replace their dates only; the
tables named by ``table`` and nothing else."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from lakehouse.config.features import FeatureStoreSettings
from lakehouse.config.gold import GoldSettings
from lakehouse.config.model import LakehouseConfig
from lakehouse.features.catalog import list_features
from lakehouse.io.delta_store import DeltaStore
from lakehouse.runs.runner import run_job
from lakehouse.storage.layout import StorageLayout

FEATURES = {
    "tables": {
        "activity": {
            "entity": ["customer_id"],
            "spine": {"table": "silver.customers", "since": "signup_date"},
            "sources": {"orders": {"table": "silver.orders", "timestamp": "ordered_at"}},
            "features": {
                "orders_2d": {
                    "source": "orders",
                    "agg": "count",
                    "window": "2d",
                    "type": "bigint",
                    "description": "o",
                },
                "spend_7d": {
                    "source": "orders",
                    "agg": "sum",
                    "column": "amount",
                    "window": "7d",
                    "type": "double",
                    "description": "s",
                },
            },
        }
    },
    "labels": {
        "churn": {
            "table": "gold.churn_labels",
            "source": "silver.orders",
            "active": "2d",
            "horizon": "2d",
            "every": "1d",
        }
    },
}


def store(spark, config: LakehouseConfig) -> DeltaStore:
    return DeltaStore(spark, StorageLayout.from_config(config))


def given_silver(spark, config: LakehouseConfig) -> None:
    tables = store(spark, config)
    customers = spark.createDataFrame(
        [(1, dt.date(2025, 12, 1)), (2, dt.date(2025, 12, 1)), (3, dt.date(2026, 1, 3))],
        "customer_id bigint, signup_date date",
    )
    orders = spark.createDataFrame(
        [
            (o, c, dt.datetime(2026, 1, d, 10), 10.0 * o)
            for o, c, d in [(1, 1, 1), (2, 2, 1), (3, 1, 2), (4, 3, 4), (5, 1, 5)]
        ],
        "order_id bigint, customer_id bigint, ordered_at timestamp, amount double",
    )
    tables.overwrite("silver.customers", customers)
    tables.overwrite("silver.orders", orders)


def snapshot(spark, config: LakehouseConfig, table: str = "gold.activity") -> dict:
    return {
        (r["customer_id"], r["as_of_date"]): r.asDict() for r in store(spark, config).read(table).collect()
    }


def test_new_dates_only_then_backfill_and_rerun_replace_their_dates_only(spark, lakehouse_config):
    config = lakehouse_config.model_copy(update={"features": FeatureStoreSettings.model_validate(FEATURES)})
    given_silver(spark, config)

    only_features = {"gold": "false"}  # silver here has only what the features read
    first = run_job("gold_features", config, params=only_features, spark=spark)
    rows = snapshot(spark, config)
    # orders from Jan 1 to Jan 5: as-of dates Jan 2 .. Jan 6; customer 3 from Jan 4 on
    assert sorted({date.day for _, date in rows}) == [2, 3, 4, 5, 6]
    assert first.rows_written["gold.activity"] == len(rows) == 2 * 5 + 3
    assert (
        rows[(1, dt.date(2026, 1, 3))]["orders_2d"] == 2
        and rows[(1, dt.date(2026, 1, 3))]["spend_7d"] == 40.0
    )
    assert (
        rows[(1, dt.date(2026, 1, 5))]["orders_2d"] == 0 and rows[(3, dt.date(2026, 1, 5))]["orders_2d"] == 1
    )
    labels = {
        (r["customer_id"], r["cutoff_date"].day): r["churned"]
        for r in store(spark, config).read("gold.churn_labels").collect()
    }
    # cutoffs Jan 3 and Jan 4 (two days before, two days after, inside Jan 1 .. Jan 5)
    assert labels == {(1, 3): 1, (2, 3): 1, (1, 4): 0}

    listed = {(e.feature, e.type, e.latest, e.definition) for e in list_features(spark, config)}
    assert listed == {
        ("orders_2d", "bigint", "2026-01-06", "count of orders over 2d"),
        ("spend_7d", "double", "2026-01-06", "sum(amount) of orders over 7d"),
    }

    version = store(spark, config).version("gold.activity")
    again = run_job("gold_features", config, params=only_features, spark=spark)
    assert again.rows_written == {} and store(spark, config).version("gold.activity") == version

    # a late order of Jan 3 lands in silver; a backfill of Jan 3 .. Jan 4 recomputes those dates only
    late = spark.createDataFrame(
        [(6, 2, dt.datetime(2026, 1, 3, 9), 5.0)],
        "order_id bigint, customer_id bigint, ordered_at timestamp, amount double",
    )
    store(spark, config).append("silver.orders", late)
    backfill = {"start": "2026-01-03", "end": "2026-01-04", "labels": "false", **only_features}
    run_job("gold_features", config, params=backfill, spark=spark)
    after = snapshot(spark, config)
    changed = {key for key in rows if rows[key] != after[key]}
    assert changed == {(2, dt.date(2026, 1, 4))}  # Jan 4 sees Jan 3; Jan 3 does not see its own day
    assert after[(2, dt.date(2026, 1, 4))]["orders_2d"] == 1 and len(after) == len(rows)

    version = store(spark, config).version("gold.activity")
    same = run_job("gold_features", config, params=backfill, spark=spark)  # the same backfill again
    assert snapshot(spark, config) == after
    # its rows are the stored ones: nothing is written, the table keeps its version
    assert same.rows_written == {} and store(spark, config).version("gold.activity") == version


def given_shop(spark, config: LakehouseConfig) -> None:
    """Silver tables for every kind gold_features builds: the demo's gold tables, features and labels."""
    tables = store(spark, config)
    tables.overwrite(
        "silver.customers",
        spark.createDataFrame(
            [(c, "budget", "DE", dt.date(2025, 12, 1), True) for c in (1, 2, 3)],
            "customer_id bigint, segment string, country string, signup_date date, is_current boolean",
        ),
    )
    tables.overwrite(
        "silver.orders",
        spark.createDataFrame(
            [
                (o, c, dt.datetime(2026, 1, d, 10), "paid", Decimal(10) * o, 10.0 * o)
                for o, c, d in [(1, 1, 1), (2, 2, 1), (3, 1, 2), (4, 3, 4), (5, 1, 5)]
            ],
            "order_id bigint, customer_id bigint, ordered_at timestamp, status string, "
            "total_amount decimal(12,2), amount double",
        ),
    )
    tables.overwrite(
        "silver.order_lines",
        spark.createDataFrame(
            [(o, 1, 100, 1, Decimal(10) * o, 0.0) for o in range(1, 6)],
            "order_id bigint, line_no int, product_id bigint, quantity int, unit_price decimal(10,2), "
            "discount_pct double",
        ),
    )
    tables.overwrite(
        "silver.products", spark.createDataFrame([(100, "shoes")], "product_id bigint, category string")
    )


def test_table_builds_the_tables_named_and_nothing_else(spark, lakehouse_config):
    # the demo's gold tables of conf/base/gold.yml, and the feature table and labels above
    config = lakehouse_config.model_copy(update={"features": FeatureStoreSettings.model_validate(FEATURES)})
    given_shop(spark, config)
    built = ("gold.daily_sales", "gold.customer_value", "gold.activity", "gold.churn_labels")

    def existing() -> set[str]:
        return {table for table in built if store(spark, config).exists(table)}

    gold = run_job("gold_features", config, params={"table": "customer_value"}, spark=spark)
    assert set(gold.rows_written) == {"gold.customer_value"} and existing() == {"gold.customer_value"}

    features = run_job("gold_features", config, params={"table": "activity"}, spark=spark)
    assert set(features.rows_written) == {"gold.activity"}
    assert existing() == {"gold.customer_value", "gold.activity"}

    # by its label set's table name; named, it is built whatever the labels switch says
    labels = run_job(
        "gold_features", config, params={"table": "gold.churn_labels", "labels": "false"}, spark=spark
    )
    assert set(labels.rows_written) == {"gold.churn_labels"}
    assert existing() == {"gold.customer_value", "gold.activity", "gold.churn_labels"}


def test_a_project_without_gold_tables_builds_its_features_only(spark, lakehouse_config):
    # no gold: section, and none of the silver tables the demo's gold tables read
    config = lakehouse_config.model_copy(
        update={"features": FeatureStoreSettings.model_validate(FEATURES), "gold": GoldSettings()}
    )
    given_silver(spark, config)

    record = run_job("gold_features", config, spark=spark)

    assert set(record.rows_written) == {"gold.activity", "gold.churn_labels"}
    assert not store(spark, config).exists("gold.daily_sales")

"""Gold tables declared in gold.yml: a user's builder function, validation at load, none declared."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.testing import assertDataFrameEqual

from lakehouse.config import load_config
from lakehouse.config.features import FeatureStoreSettings
from lakehouse.config.gold import GoldSettings
from lakehouse.config.model import LakehouseConfig
from lakehouse.errors import ConfigError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.runs.runner import run_job
from lakehouse.storage.layout import StorageLayout
from tests.config.test_loader import write_conf

ORDERS = "order_id bigint, customer_id bigint, ordered_at timestamp, amount double"
GOLD = {
    "tables": {
        "orders_per_customer": {
            "comment": "Orders and spend per customer",
            "sources": ["silver.orders"],
            "key": ["customer_id"],
            "builder": "tests.gold.builders:orders_per_customer",
        }
    }
}


def store(spark, config: LakehouseConfig) -> DeltaStore:
    return DeltaStore(spark, StorageLayout.from_config(config))


def test_a_gold_table_of_a_user_function_is_rebuilt_when_its_sources_change(spark, lakehouse_config):
    config = lakehouse_config.model_copy(
        update={"gold": GoldSettings.model_validate(GOLD), "features": FeatureStoreSettings()}
    )
    assert [problem for problem in config.check() if problem[0][0] == "gold"] == []
    tables = store(spark, config)
    orders = spark.createDataFrame(
        [(1, 7, dt.datetime(2026, 1, 1, 9), 10.0), (2, 7, dt.datetime(2026, 1, 2, 9), 5.0)], ORDERS
    )
    tables.overwrite("silver.orders", orders)

    first = run_job("gold_features", config, spark=spark)

    assert first.rows_written == {"gold.orders_per_customer": 1}
    expected = "customer_id bigint, orders bigint, spend double"
    assertDataFrameEqual(
        tables.read("gold.orders_per_customer"), spark.createDataFrame([(7, 2, 15.0)], expected)
    )
    assert (
        spark.sql(f"DESCRIBE DETAIL delta.`{tables.layout.table('gold.orders_per_customer').location}`")
        .first()
        .description
        == "Orders and spend per customer"
    )
    assert run_job("gold_features", config, spark=spark).rows_written == {}  # no change: skipped

    tables.append("silver.orders", spark.createDataFrame([(3, 8, dt.datetime(2026, 1, 3, 9), 4.0)], ORDERS))
    third = run_job("gold_features", config, spark=spark)

    assert third.rows_written == {"gold.orders_per_customer": 2}  # mode full: rebuilt whole
    assertDataFrameEqual(
        tables.read("gold.orders_per_customer"),
        spark.createDataFrame([(7, 2, 15.0), (8, 1, 4.0)], expected),
    )


SILVER = """\
silver:
  tables:
    orders: {source: bronze.orders, key: [order_id], columns: {order_id: {type: bigint}}}
"""
GOLD_YML = """\
gold:
  tables:
    orders_per_customer:
      comment: Orders per customer
      sources: [%s]
      key: [customer_id]
      builder: %s
"""


def load_error(tmp_path, source="silver.orders", builder="tests.gold.builders:orders_per_customer") -> str:
    conf = write_conf(tmp_path, {"base/silver.yml": SILVER, "base/gold.yml": GOLD_YML % (source, builder)})
    with pytest.raises(ConfigError) as caught:
        load_config("local", conf_dir=conf, environ={})
    return str(caught.value)


def test_the_gold_yml_of_a_user_loads(tmp_path):
    conf = write_conf(
        tmp_path,
        {
            "base/silver.yml": SILVER,
            "base/gold.yml": GOLD_YML % ("silver.orders", "tests.gold.builders:orders_per_customer"),
        },
    )
    table = load_config("local", conf_dir=conf, environ={}).gold.tables["orders_per_customer"]
    assert (table.mode, table.zorder_by, table.key) == ("full", [], ["customer_id"])


def test_an_unknown_builder_module_or_function_names_the_file_and_key(tmp_path):
    message = load_error(tmp_path / "module", builder="tests.gold.buildrs:orders_per_customer")
    assert "conf/base/gold.yml: gold.tables.orders_per_customer.builder: " in message
    assert "cannot import module 'tests.gold.buildrs'" in message

    message = load_error(tmp_path / "function", builder="tests.gold.builders:orders_per_custmer")
    assert "conf/base/gold.yml: gold.tables.orders_per_customer.builder: " in message
    assert "has no function 'orders_per_custmer'; did you mean 'orders_per_customer'?" in message

    message = load_error(tmp_path / "shape", builder="orders_per_customer")
    assert "gold.tables.orders_per_customer.builder" in message and "should match pattern" in message


def test_an_unknown_source_table_gets_a_did_you_mean(tmp_path):
    message = load_error(tmp_path, source="silver.order")
    assert (
        "conf/base/gold.yml: gold.tables.orders_per_customer.sources.0: "
        "unknown table 'silver.order'; did you mean 'silver.orders'?"
    ) in message


def test_a_gold_table_may_not_be_a_feature_or_label_table(lakehouse_config):
    gold = GoldSettings.model_validate({"tables": {"churn_labels": GOLD["tables"]["orders_per_customer"]}})
    config = lakehouse_config.model_copy(update={"gold": gold})
    problem = "gold.churn_labels is also the table of features.labels.churn"
    assert (("gold", "tables", "churn_labels"), problem) in config.check()

"""An unknown feature source, aggregation or table in features.yml fails at load, naming the key."""

from __future__ import annotations

import pytest

from lakehouse.config import load_config
from lakehouse.errors import ConfigError
from tests.config.test_loader import write_conf

TABLE = """\
features:
  tables:
    activity:
      entity: [customer_id]
      spine: {table: silver.customers, since: signup_date}
      sources:
        orders: {table: %s, timestamp: ordered_at}
      features:
        orders_7d: {source: %s, agg: %s, window: 7d, type: bigint, description: Orders of the last 7 days}
"""
SILVER = """\
silver:
  tables:
    customers: {source: bronze.customers, key: [customer_id], columns: {customer_id: {type: bigint}}}
    orders: {source: bronze.orders, key: [order_id], columns: {order_id: {type: bigint}}}
"""


def error_of(tmp_path, table="silver.orders", source="orders", agg="count") -> str:
    conf = write_conf(
        tmp_path, {"base/silver.yml": SILVER, "base/features.yml": TABLE % (table, source, agg)}
    )
    with pytest.raises(ConfigError) as caught:
        load_config("local", conf_dir=conf, environ={})
    return str(caught.value)


def test_the_shipped_features_load(tmp_path):
    conf = write_conf(
        tmp_path,
        {"base/silver.yml": SILVER, "base/features.yml": TABLE % ("silver.orders", "orders", "count")},
    )
    assert list(load_config("local", conf_dir=conf, environ={}).features.tables["activity"].features) == [
        "orders_7d"
    ]


def test_an_unknown_source_names_the_feature_key(tmp_path):
    message = error_of(tmp_path, source="order")
    assert "features.yml" in message and "features.tables.activity" in message
    assert "features.orders_7d.source: unknown source 'order'; sources: orders" in message


def test_an_unknown_aggregation_names_the_key(tmp_path):
    message = error_of(tmp_path, agg="median")
    assert "features.tables.activity.features.orders_7d.agg" in message and "median" in message


def test_an_unknown_table_names_the_key_and_suggests_one(tmp_path):
    message = error_of(tmp_path, table="silver.order")
    assert "features.tables.activity.sources.orders.table" in message
    assert "unknown table 'silver.order'; did you mean 'silver.orders'?" in message

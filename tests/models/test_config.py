"""A model that names an unknown feature table, feature or categorical fails at load, naming the key."""

from __future__ import annotations

import shutil

import pytest

from lakehouse.config import load_config
from lakehouse.errors import ConfigError
from tests.conftest import CONF_DIR

MODEL = """
models:
  models:
    churn:
      labels: {table: gold.churn_labels, entity: [customer_id], target: churned}
      features: {%s: %s}
      categorical: [%s]
      metric: %s
"""


def error_of(
    tmp_path, table="customer_activity", features="all", categorical="segment", metric="roc_auc"
) -> str:
    conf = shutil.copytree(CONF_DIR, tmp_path / "conf")  # the shipped conf, churn overridden in local
    (conf / "local" / "models.yml").write_text(MODEL % (table, features, categorical, metric))
    with pytest.raises(ConfigError) as error:
        load_config("local", conf_dir=conf)
    return str(error.value)


def test_the_shipped_models_load():
    assert "churn" in load_config("local").models.models


def test_an_unknown_feature_table_is_named_with_a_suggestion(tmp_path):
    message = error_of(tmp_path, table="customer_activty")
    assert "models.models.churn.features.customer_activty" in message and "customer_activity" in message


def test_an_unknown_feature_is_named(tmp_path):
    message = error_of(tmp_path, features="[orders_7d, order_30d]", categorical="")
    assert "unknown feature 'order_30d'" in message and "orders_30d" in message


def test_a_categorical_feature_must_be_a_model_feature(tmp_path):
    message = error_of(tmp_path, features="[orders_7d]", categorical="segment")
    assert "models.models.churn.categorical" in message and "'segment'" in message


def test_a_metric_of_the_other_task_is_refused(tmp_path):
    assert "rmse is not a classification metric" in error_of(tmp_path, metric="rmse")


TABLE_MODEL = """
models:
  models:
    segments:
      data: {%s}
      %s
"""


def table_model_error(tmp_path, data: str, extra: str = "") -> str:
    conf = shutil.copytree(CONF_DIR, tmp_path / "conf")
    (conf / "local" / "models.yml").write_text(TABLE_MODEL % (data, extra))
    with pytest.raises(ConfigError) as error:
        load_config("local", conf_dir=conf)
    return str(error.value)


def test_a_table_model_loads_and_names_its_mistakes(tmp_path):
    conf = shutil.copytree(CONF_DIR, tmp_path / "ok" / "conf")
    (conf / "local" / "models.yml").write_text(TABLE_MODEL % ("table: silver.customers, target: segment", ""))
    model = load_config("local", conf_dir=conf).models.models["segments"]
    assert model.data.table == "silver.customers" and model.task is None and model.split.method is None

    message = table_model_error(tmp_path / "a", "table: silver.custmers, target: segment")
    assert "models.models.segments.data.table: unknown table 'silver.custmers'" in message
    assert "did you mean 'silver.customers'" in message
    message = table_model_error(tmp_path / "b", "table: silver.customers, target: segmnt")
    assert "models.models.segments.data.target: silver.customers has no column 'segmnt'" in message
    assert "did you mean 'segment'" in message
    # a table that is not a silver table of silver.yml has no declared key to write predictions by
    message = table_model_error(tmp_path / "c", "table: gold.customer_value, target: lifetime_value")
    assert "models.models.segments.data.key: required" in message
    message = table_model_error(
        tmp_path / "d", "table: silver.customers, target: segment, features: [segment]"
    )
    assert "the target 'segment' cannot also be a feature" in message
    message = table_model_error(
        tmp_path / "e",
        "table: silver.customers, target: segment",
        "labels: {table: gold.churn_labels, entity: [customer_id], target: churned}",
    )
    assert "give either data" in message
    message = table_model_error(
        tmp_path / "f", "table: silver.customers, target: segment", "split: {method: column}"
    )
    assert "a column split needs column" in message

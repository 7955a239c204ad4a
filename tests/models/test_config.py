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

"""train_model and batch_score for real: SynapseML LightGBM on the JVM, MLflow's SQLite registry.

The data is synthetic and separable: the label is 1 when x1 plus a bonus for segment "b" passes a
threshold, so a working pipeline (categorical segment included) must reach a test AUC above 0.9.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from lakehouse.config.features import FeatureStoreSettings
from lakehouse.config.model import LakehouseConfig
from lakehouse.config.models import ModelsSettings
from lakehouse.errors import MissingFeaturesError, TrainingDataError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.models.registry import ModelRegistry
from lakehouse.models.scoring import score
from lakehouse.runs.runner import JobFailedError, run_job
from lakehouse.storage.layout import StorageLayout

pytestmark = pytest.mark.slow

ENTITIES, DAYS = 200, 6
FEATURES = {
    "tables": {
        "activity": {
            "entity": ["customer_id"],
            "spine": {"table": "silver.customers"},
            "sources": {"orders": {"table": "silver.orders", "timestamp": "ordered_at"}},
            "features": {
                "x1": {
                    "source": "orders",
                    "agg": "avg",
                    "column": "a",
                    "window": "7d",
                    "type": "double",
                    "description": "x",
                },
                "x2": {
                    "source": "orders",
                    "agg": "count",
                    "window": "7d",
                    "type": "bigint",
                    "description": "n",
                },
                "seg": {"agg": "attribute", "column": "segment", "type": "string", "description": "s"},
            },
        }
    }
}


def model_settings(margin: float = 0.0, search: bool = True, task: str = "classification") -> dict:
    model = {
        "task": task,
        "labels": {"table": "gold.risk_labels", "entity": ["customer_id"], "target": "churned"},
        "features": {"activity": "all"},
        "categorical": ["seg"],
        "split": {"validation": 0.2, "test": 0.2},
        "params": {"numIterations": 60, "learningRate": 0.2, "numLeaves": 7, "minDataInLeaf": 5, "seed": 1},
        "early_stopping_rounds": 10,
        "promotion": {"margin": margin},
    }
    if search:
        # two fits side by side (one LightGBM thread each), as the cores allow on a bigger machine
        model["search"] = {"strategy": "grid", "trials": 2, "parallelism": 2, "space": {"numLeaves": [4, 7]}}
    return {"models": {"risk": model}}


def configured(config: LakehouseConfig, **model) -> LakehouseConfig:
    return config.model_copy(
        update={
            "features": FeatureStoreSettings.model_validate(FEATURES),
            "models": ModelsSettings.model_validate(model_settings(**model)),
        }
    )


def store(spark, config: LakehouseConfig) -> DeltaStore:
    return DeltaStore(spark, StorageLayout.from_config(config))


def feature_rows(days: range, seed: int = 5) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for day in days:
        for customer in range(1, ENTITIES + 1):
            x1 = rng.random()
            rows.append((customer, dt.date(2026, 2, day), x1, rng.randint(0, 5), rng.choice("abc")))
    return rows


def separable(x1: float, segment: str) -> int:
    return int(x1 + (0.4 if segment == "b" else 0.0) > 0.7)


def given_tables(spark, config: LakehouseConfig, target=separable, target_type: str = "int") -> list[tuple]:
    """gold.activity for DAYS dates and gold.risk_labels, whose target is ``target(x1, seg)``."""
    rows = feature_rows(range(1, DAYS + 1))
    tables = store(spark, config)
    tables.overwrite(
        "gold.activity",
        spark.createDataFrame(rows, "customer_id bigint, as_of_date date, x1 double, x2 bigint, seg string"),
    )
    labels = [(c, dt.datetime.combine(d, dt.time()), target(x1, seg)) for c, d, x1, _, seg in rows]
    schema = f"customer_id bigint, label_time timestamp, churned {target_type}"
    tables.overwrite("gold.risk_labels", spark.createDataFrame(labels, schema))
    return rows


def predictions(spark, config) -> list[dict]:
    return [r.asDict() for r in store(spark, config).read("gold.risk_predictions").collect()]


def test_a_trained_model_is_registered_promoted_and_scores_new_rows_once(spark, lakehouse_config):
    keys = ["customer_id", "as_of_date"]
    config = configured(lakehouse_config)
    given_tables(spark, config)

    run_job("train_model", config, spark=spark)

    registry = ModelRegistry(config)
    [version] = registry.versions("risk")
    assert version.metrics["test_roc_auc"] > 0.9
    assert version.metrics["test_rows"] == ENTITIES and version.metrics["train_rows"] == ENTITIES * 4
    assert version.features == ["x1", "x2", "seg"]
    assert version.data_versions == {"gold.activity": 0, "gold.risk_labels": 0}
    assert "production" in version.aliases
    run = registry.client.get_run(version.run_id)
    cores = spark.sparkContext.defaultParallelism
    assert run.data.params["trials_at_once"] == "2" and run.data.params["threads"] == str(max(1, cores // 2))
    assert int(run.data.params["best_iteration"]) >= 1
    report = Path(StorageLayout.from_config(config).files_root) / "reports" / "models" / "risk-v1.html"
    html = report.read_text()
    assert html.count("<svg") >= 5 and "gold.risk_labels" in html and "Confusion matrix" in html

    # the batch scorer (LightGBM's matrix predict in the JVM, same trees) equals SynapseML's transform
    model, rows = registry.load(version), store(spark, config).read("gold.activity")
    batch, synapseml = (
        {
            (r.customer_id, r.as_of_date): r.score
            for r in score(model, rows, "classification", keys, s).collect()
        }
        for s in ("batch", "synapseml")
    )
    assert batch.keys() == synapseml.keys() and len(batch) == ENTITIES * DAYS
    assert max(abs(batch[k] - synapseml[k]) for k in batch) < 1e-9

    first = run_job("batch_score", config, spark=spark)
    assert first.rows_written == {"gold.risk_predictions": ENTITIES}
    scored = predictions(spark, config)
    assert {r["as_of_date"] for r in scored} == {dt.date(2026, 2, DAYS)}  # the newest date only
    assert all(r["model_name"] == "risk" and r["model_version"] == 1 for r in scored)
    assert all(r["predicted_class"] == int(r["score"] >= r["threshold"]) for r in scored)

    again = run_job("batch_score", config, spark=spark)
    assert again.rows_written.get("gold.risk_predictions", 0) == 0
    assert len(predictions(spark, config)) == ENTITIES

    new_day = feature_rows(range(DAYS + 1, DAYS + 2), seed=9)
    store(spark, config).append(
        "gold.activity",
        spark.createDataFrame(
            new_day, "customer_id bigint, as_of_date date, x1 double, x2 bigint, seg string"
        ),
    )
    later = run_job("batch_score", config, spark=spark)
    assert later.rows_written == {"gold.risk_predictions": ENTITIES}
    by_date = {}
    for r in predictions(spark, config):
        by_date[r["as_of_date"]] = by_date.get(r["as_of_date"], 0) + 1
    assert by_date == {dt.date(2026, 2, DAYS): ENTITIES, dt.date(2026, 2, DAYS + 1): ENTITIES}


def test_promotion_by_margin_or_command_and_missing_features_are_named(spark, lakehouse_config):
    config = configured(lakehouse_config, search=False)
    given_tables(spark, config)
    run_job("train_model", config, spark=spark)
    # the same data and seed again: no better than production, so a margin keeps version 1
    strict = configured(lakehouse_config, margin=0.01, search=False)
    run_job("train_model", strict, spark=spark)
    registry = ModelRegistry(config)
    assert [v.version for v in registry.versions("risk")] == [2, 1]
    assert registry.production("risk").version == 1

    registry.promote("risk", 2, "test")
    assert registry.production("risk").version == 2
    run_job("batch_score", config, spark=spark)
    assert {r["model_version"] for r in predictions(spark, config)} == {2}

    # x2 is taken out of features.yml: the feature rows no longer hold what version 1 expects
    declared = FEATURES["tables"]["activity"]
    without_x2 = {**declared, "features": {k: v for k, v in declared["features"].items() if k != "x2"}}
    features = FeatureStoreSettings.model_validate({"tables": {"activity": without_x2}})
    with pytest.raises(JobFailedError) as failure:
        run_job(
            "batch_score",
            config.model_copy(update={"features": features}),
            spark=spark,
            params={"version": "1"},
        )
    cause = failure.value.__cause__
    assert isinstance(cause, MissingFeaturesError) and cause.missing == ["x2"]
    assert "x2" in str(cause) and "gold.activity" in str(cause)


def test_a_regression_target_trains_a_regressor_and_scores_values(spark, lakehouse_config):
    config = configured(lakehouse_config, search=False, task="regression")
    given_tables(spark, config, lambda x1, seg: 10 * x1 + (4.0 if seg == "b" else 0.0), "double")
    run_job("train_model", config, spark=spark)
    [version] = ModelRegistry(config).versions("risk")
    assert version.metrics["test_r2"] > 0.9 and version.metrics["test_rmse"] < 1.5
    assert "test_roc_auc" not in version.metrics

    run_job("batch_score", config, spark=spark)
    scored = predictions(spark, config)
    assert len(scored) == ENTITIES
    assert all(r["predicted_class"] is None and r["threshold"] is None for r in scored)
    assert min(r["score"] for r in scored) > -1 and max(r["score"] for r in scored) < 15


def test_label_rows_without_a_feature_row_stop_training_naming_the_table_and_dates(spark, lakehouse_config):
    config = configured(lakehouse_config, search=False)
    given_tables(spark, config)
    # a quarter of the customers never got a feature row (a backfill that did not run)
    tables = store(spark, config)
    tables.overwrite("gold.activity", tables.read("gold.activity").where("customer_id > 50"))

    with pytest.raises(JobFailedError) as failure:
        run_job("train_model", config, spark=spark)

    cause = failure.value.__cause__
    assert isinstance(cause, TrainingDataError), repr(cause)
    message = str(cause)
    assert "200 of 800 train rows (25.0%) have no row of gold.activity as of their label time" in message
    assert "the label dates 2026-02-01, 2026-02-02, 2026-02-03, 2026-02-04" in message
    assert ModelRegistry(config).versions("risk") == []  # nothing was fitted or registered

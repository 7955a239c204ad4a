"""Models trained straight from a table, on real public data (scikit-learn's bundled data sets).

Breast cancer (569 tumours, 30 measurements, malignant or benign), wine (178 wines, 3 cultivars)
and diabetes (442 patients, a disease progression score) ship inside scikit-learn: no download.
Everything runs for real: Spark, Delta, SynapseML LightGBM and MLflow's SQLite registry.
"""

from __future__ import annotations

import os
import re

import pytest
from pyspark.sql import functions as F
from sklearn import datasets

from lakehouse.config.model import LakehouseConfig
from lakehouse.config.models import ModelSettings, ModelsSettings
from lakehouse.errors import ModelError, ModelTrainingError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.models.registry import ModelRegistry
from lakehouse.models.training_data import table_training_data
from lakehouse.runs.runner import JobFailedError, run_job
from lakehouse.storage.layout import StorageLayout

pytestmark = pytest.mark.slow

FAST = {"numIterations": 40, "learningRate": 0.1, "numLeaves": 7, "minDataInLeaf": 5, "seed": 3}


def snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def sklearn_frame(loader, target_labels: list[str] | None = None):
    """A scikit-learn data set as pandas: snake_case columns, a ``sample_id``, the ``target``."""
    bunch = loader(as_frame=True)
    frame = bunch.frame.rename(columns=snake)
    frame.insert(0, "sample_id", range(1, len(frame) + 1))
    if target_labels is not None:
        frame["target"] = [target_labels[int(v)] for v in frame["target"]]
    return frame


def store(spark, config: LakehouseConfig) -> DeltaStore:
    return DeltaStore(spark, StorageLayout.from_config(config))


def with_models(config: LakehouseConfig, **models: dict) -> LakehouseConfig:
    return config.model_copy(update={"models": ModelsSettings.model_validate({"models": models})})


def table_model(table: str, **extra) -> dict:
    return {
        "data": {"table": table, "target": "target", "key": ["sample_id"], **extra.pop("data", {})},
        "params": FAST,
        "early_stopping_rounds": 10,
        **extra,
    }


def test_a_string_label_trains_by_configuration_and_scores_new_and_changed_rows(spark, lakehouse_config):
    # scikit-learn's target 0 is malignant: written as the words a user's table would hold
    cancer = sklearn_frame(datasets.load_breast_cancer, ["malignant", "benign"])
    tables = store(spark, lakehouse_config)
    tables.overwrite("silver.breast_cancer", spark.createDataFrame(cancer))
    config = with_models(
        lakehouse_config, cancer=table_model("silver.breast_cancer", split={"method": "random", "seed": 11})
    )

    tracking_before = os.environ.get("MLFLOW_TRACKING_URI")
    run = run_job("train_model", config, spark=spark)
    # MLflow's set_tracking_uri exports the variable; the registry puts it back, or every later
    # configuration load and subprocess would take this lakehouse's store for the user's server
    assert os.environ.get("MLFLOW_TRACKING_URI") == tracking_before

    registry = ModelRegistry(config)
    [version] = registry.versions("cancer")
    assert version.tags["problem"] == "binary"
    assert version.tags["classes"] == '["benign", "malignant"]'  # malignant, last, is the positive class
    assert version.metrics["test_roc_auc"] > 0.95
    rows = {s: version.metrics[f"{s}_rows"] for s in ("train", "validation", "test")}
    assert sum(rows.values()) == 569 and 0.12 < rows["test"] / 569 < 0.28  # random: about 20%
    assert len(version.features) == 30 and "sample_id" not in version.features
    assert run.metrics["cancer.test_roc_auc"] == version.metrics["test_roc_auc"]
    # what the search cost is kept with the run: its seconds and the boosting rounds it kept
    assert run.metrics["cancer.trial_seconds"] > 0 and run.metrics["cancer.search_seconds"] > 0
    assert run.metrics["cancer.rounds"] >= 1

    first = run_job("batch_score", config, spark=spark)
    assert first.rows_written == {"gold.cancer_predictions": 569}
    predictions = {r.sample_id: r for r in tables.read("gold.cancer_predictions").collect()}
    truth = dict(zip(cancer["sample_id"], cancer["target"], strict=True))
    assert {r.predicted_label for r in predictions.values()} == {"malignant", "benign"}
    accuracy = sum(predictions[i].predicted_label == truth[i] for i in truth) / len(truth)
    assert accuracy > 0.95
    assert all(
        r.predicted_label == ("malignant" if r.score >= r.threshold else "benign")
        for r in predictions.values()
    )

    again = run_job("batch_score", config, spark=spark)
    assert again.rows_written.get("gold.cancer_predictions", 0) == 0

    # three tumours are measured again (much larger), two new ones arrive: only those five are scored
    changed = tables.read("silver.breast_cancer").where("sample_id IN (1, 2, 3)")
    grown = changed.withColumn("mean_radius", F.col("mean_radius") * 3)
    tables.merge("silver.breast_cancer", grown, ["sample_id"])
    new_rows = changed.withColumn("sample_id", F.col("sample_id") + 1000).limit(2)
    tables.append("silver.breast_cancer", new_rows)
    later = run_job("batch_score", config, spark=spark)
    assert later.rows_written == {"gold.cancer_predictions": 5}
    assert tables.read("gold.cancer_predictions").count() == 571


def test_a_multiclass_target_and_a_regression_target(spark, lakehouse_config):
    tables = store(spark, lakehouse_config)
    tables.overwrite("silver.wine", spark.createDataFrame(sklearn_frame(datasets.load_wine)))
    tables.overwrite("silver.diabetes", spark.createDataFrame(sklearn_frame(datasets.load_diabetes)))
    config = with_models(
        lakehouse_config,
        # an integer target of three values: a classification only when declared
        wine=table_model("silver.wine", task="classification"),
        diabetes=table_model("silver.diabetes", split={"method": "random"}),
    )

    run_job("train_model", config, spark=spark)

    registry = ModelRegistry(config)
    [wine] = registry.versions("wine")
    assert wine.tags["problem"] == "multiclass" and wine.tags["classes"] == '["0", "1", "2"]'
    assert wine.metrics["test_accuracy"] > 0.85 and wine.metrics["test_log_loss"] < 0.5
    assert "test_roc_auc" not in wine.metrics
    [diabetes] = registry.versions("diabetes")
    assert diabetes.tags["problem"] == "regression"
    # the target's standard deviation is 77: a model that learned something is below it
    assert 40 < diabetes.metrics["test_rmse"] < 75 and diabetes.metrics["test_r2"] > 0.1

    run_job("batch_score", config, spark=spark)
    wine_predictions = tables.read("gold.wine_predictions").collect()
    assert len(wine_predictions) == 178
    assert {r.predicted_label for r in wine_predictions} == {"0", "1", "2"}
    assert all(
        r.predicted_label == str(r.predicted_class) and 1 / 3 <= r.score <= 1 for r in wine_predictions
    )
    diabetes_predictions = tables.read("gold.diabetes_predictions").collect()
    assert len(diabetes_predictions) == 442
    assert all(r.predicted_label is None and 25 < r.score < 346 for r in diabetes_predictions)


def split_shares(data) -> dict[tuple[str, float], int]:
    return {(r.split, r._label): r["count"] for r in data.rows.groupBy("split", "_label").count().collect()}


def test_splits_random_stratified_time_and_column(spark, lakehouse_config):
    frame = sklearn_frame(datasets.load_breast_cancer, ["malignant", "benign"])
    frame["measured_at"] = [f"2025-01-{1 + i % 28:02d} 10:00:00" for i in range(len(frame))]
    frame["fold"] = [
        "test" if i % 5 == 0 else ("Validation " if i % 5 == 1 else "train") for i in range(len(frame))
    ]
    tables = store(spark, lakehouse_config)
    tables.overwrite(
        "silver.cancer",
        spark.createDataFrame(frame).withColumn("measured_at", F.col("measured_at").cast("timestamp")),
    )

    def prepared(**split):
        settings = ModelSettings.model_validate(table_model("silver.cancer", split=split))
        return table_training_data(tables, lakehouse_config, "cancer", settings)

    stratified = prepared(validation=0.2, test=0.2)  # the default of a classification
    assert stratified.split["method"] == "stratified"
    counts = split_shares(stratified)
    for label, total in ((0.0, 357), (1.0, 212)):  # benign, malignant
        assert counts[("test", label)] == pytest.approx(total * 0.2, abs=1)
        assert counts[("validation", label)] == pytest.approx(total * 0.2, abs=1)
    # the split column, the time column and the fold column are not features
    assert "measured_at" not in stratified.features and "fold" in stratified.features
    assert any("measured_at" in note and "skipped" in note for note in stratified.notes)

    randomly = prepared(method="random", seed=5)
    again = prepared(method="random", seed=5)
    lots = {r.sample_id: r.split for r in randomly.rows.collect()}
    assert lots == {r.sample_id: r.split for r in again.rows.repartition(7).collect()}  # the same rows
    assert lots != {r.sample_id: r.split for r in prepared(method="random", seed=6).rows.collect()}

    by_time = prepared(method="time", column="measured_at", validation=0.25, test=0.25)
    days = {
        r.split: (r.first, r.last)
        for r in by_time.rows.join(
            tables.read("silver.cancer").select("sample_id", "measured_at"), "sample_id"
        )
        .groupBy("split")
        .agg(F.min("measured_at").alias("first"), F.max("measured_at").alias("last"))
        .collect()
    }
    assert days["train"][1] < days["validation"][0] <= days["validation"][1] < days["test"][0]

    by_column = prepared(method="column", column="fold")
    folds = {r.split: r["count"] for r in by_column.rows.groupBy("split").count().collect()}
    assert folds == {"test": 114, "validation": 114, "train": 341}
    assert "fold" not in by_column.features


def test_constant_null_and_leaking_columns_and_a_boolean_target(spark, lakehouse_config):
    frame = sklearn_frame(datasets.load_breast_cancer)
    frame["is_benign"] = frame["target"] == 1  # a boolean target
    frame["clinic"] = "north"  # constant
    frame = frame.drop(columns=["target"])
    tables = store(spark, lakehouse_config)
    tables.overwrite(
        "silver.cancer", spark.createDataFrame(frame).withColumn("notes", F.lit(None).cast("string"))
    )

    def prepared(**data):
        model = table_model("silver.cancer", data={"target": "is_benign", **data})
        return table_training_data(tables, lakehouse_config, "cancer", ModelSettings.model_validate(model))

    data = prepared()
    assert data.problem.kind == "binary" and data.problem.classes == ("false", "true")
    assert "clinic" not in data.features and "notes" not in data.features and len(data.features) == 30
    assert any("clinic" in n and "same value" in n for n in data.notes)
    assert any("notes" in n and "null in every row" in n for n in data.notes)

    # a copy of the target under another name would leak the answer
    leaking = tables.read("silver.cancer").withColumn("diagnosis_copy", F.col("is_benign"))
    tables.overwrite("silver.cancer_leak", leaking)
    model = table_model("silver.cancer_leak", data={"target": "is_benign"})
    with pytest.raises(ModelError, match=r"diagnosis_copy.*equals the target"):
        table_training_data(tables, lakehouse_config, "cancer", ModelSettings.model_validate(model))
    # and the target itself can never be a feature
    with pytest.raises(ValueError, match="target 'is_benign' cannot also be a feature"):
        ModelSettings.model_validate(
            table_model("silver.cancer", data={"target": "is_benign", "features": ["is_benign"]})
        )


def test_engine_errors_are_typed_and_name_the_model(spark, lakehouse_config):
    tables = store(spark, lakehouse_config)
    tables.overwrite("silver.wine", spark.createDataFrame(sklearn_frame(datasets.load_wine)))
    # LightGBM refuses a learning rate below zero; its stack trace must not reach the user
    config = with_models(
        lakehouse_config,
        wine=table_model("silver.wine", task="classification", params={**FAST, "learningRate": -1.0}),
    )
    with pytest.raises(JobFailedError) as failure:
        run_job("train_model", config, spark=spark)
    cause = failure.value.__cause__
    assert isinstance(cause, ModelTrainingError), repr(cause)
    message = str(cause)
    assert message.startswith("model wine: training failed") and "\tat " not in message
    assert len(message.splitlines()) == 1

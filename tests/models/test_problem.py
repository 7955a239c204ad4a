"""Target inference and label mapping (pure), and the training-data checks before any fit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.models import ModelSettings
from lakehouse.errors import ModelError, TrainingDataError
from lakehouse.models.problem import Problem, infer_problem
from lakehouse.models.training import check_training_data, count_splits
from lakehouse.models.training_data import TrainingData


def values(*items):
    """(value, Spark's text of it) pairs, as collected from a target column."""

    def text(value):
        return str(value).lower() if isinstance(value, bool) else str(value)

    return [(item, text(item)) for item in items]


@pytest.mark.parametrize(
    ("data_type", "found", "task", "kind", "classes"),
    [
        (T.StringType(), values("benign", "malignant"), None, "binary", ("benign", "malignant")),
        (T.StringType(), values("setosa", "virginica", "versicolor"), None, "multiclass",
         ("setosa", "versicolor", "virginica")),
        (T.BooleanType(), values(True, False), None, "binary", ("false", "true")),
        (T.IntegerType(), values(1, 0), None, "binary", ("0", "1")),
        (T.IntegerType(), values(10, 2, 1), None, "regression", ()),  # numbers: regression unless declared
        (T.IntegerType(), values(10, 2, 1), "classification", "multiclass", ("1", "2", "10")),  # by value
        (T.DoubleType(), values(0.5, 1.5, 2.5), None, "regression", ()),
        (T.DecimalType(10, 2), values(Decimal("1.00"), Decimal("0.00")), "regression", "regression", ()),
    ],
)  # fmt: skip
def test_the_problem_is_inferred_from_the_target(data_type, found, task, kind, classes):
    problem = infer_problem("y", data_type, found, task)
    assert (problem.kind, problem.classes) == (kind, classes)


def test_the_positive_class_of_a_binary_target_is_last():
    assert infer_problem("y", T.StringType(), values("yes", "no"), None, "no").classes == ("yes", "no")
    assert infer_problem("y", T.BooleanType(), values(True, False), None, False).classes == ("true", "false")
    assert infer_problem("y", T.DoubleType(), values(1.0, 0.0), None, 0).classes == ("1.0", "0.0")
    with pytest.raises(ModelError, match="positive 'maybe' is not a value"):
        infer_problem("y", T.StringType(), values("yes", "no"), None, "maybe", "models.models.m.data")


@pytest.mark.parametrize(
    ("data_type", "found", "task", "message"),
    [
        (T.StringType(), values("a"), None, "a single value"),
        (T.StringType(), [], None, "no value in any row"),
        (T.StringType(), values(*[f"id{i}" for i in range(101)]), None, "more than 100 distinct values"),
        (T.StringType(), values("a", "b"), "regression", "regression needs a numeric target"),
        (T.DateType(), values(dt.date(2026, 1, 1)), None, "a target is a number, a boolean or a string"),
    ],
)
def test_targets_that_cannot_be_learned_are_refused_with_the_key(data_type, found, task, message):
    with pytest.raises(ModelError, match=message) as error:
        infer_problem("y", data_type, found, task, None, "models.models.m.data (silver.t)")
    assert str(error.value).startswith("models.models.m.data (silver.t)")


def test_a_problem_travels_with_the_model_as_tags():
    problem = Problem("multiclass", "species", ("a", "b", "c"))
    assert Problem.from_tags(problem.as_tags(), "classification", "species") == problem
    # versions registered before labels were mapped: a 0/1 binary target
    assert Problem.from_tags({}, "classification", "churned") == Problem("binary", "churned", ("0", "1"))


def test_a_split_missing_too_many_feature_rows_fails_naming_the_table_and_dates(spark):
    # 10 label rows per split; test has 3 without a feature row of gold.activity (30% > 5%)
    rows = [
        (
            i,
            dt.datetime(2026, 1, 1 + i // 10),
            split,
            None if (split == "test" and i % 10 < 3) else dt.date(2026, 1, 1),
        )
        for i, split in enumerate(["train"] * 10 + ["validation"] * 10 + ["test"] * 10)
    ]
    frame = spark.createDataFrame(
        rows, "id int, label_time timestamp, split string, activity_as_of date"
    ).withColumn("_label", (F.col("id") % 2).cast("double"))
    data = TrainingData(
        frame, ["x"], [], Problem("binary", "y", ("0", "1")), {}, {"method": "time"}, [],
        {"gold.activity": "activity_as_of"}, "label_time",
    )  # fmt: skip
    settings = ModelSettings.model_validate(
        {"labels": {"table": "gold.labels", "entity": ["id"], "target": "y"}, "features": {"activity": "all"}}
    )
    counts = count_splits(data)
    assert counts.rows == {"train": 10, "validation": 10, "test": 10}
    assert counts.missing == {"gold.activity": {"train": 0, "validation": 0, "test": 3}}
    with pytest.raises(TrainingDataError) as error:
        check_training_data("churn", settings, data, counts)
    message = str(error.value)
    assert "3 of 10 test rows (30.0%) have no row of gold.activity" in message
    assert "the label dates 2026-01-03" in message and "models.models.churn.max_missing_share" in message

    tolerant = settings.model_copy(update={"max_missing_share": 0.3})
    check_training_data("churn", tolerant, data, counts)  # 30% is allowed


def test_a_split_without_rows_fails_before_any_fit(spark):
    frame = spark.createDataFrame([(1, "train"), (2, "test"), (3, "TEST?")], "id int, split string")
    frame = frame.selectExpr(
        "id", "CASE WHEN split IN ('train', 'test') THEN split END AS split", "split AS _split_source"
    )
    data = TrainingData(
        frame, ["x"], [], Problem("regression", "y"), {}, {"method": "column", "column": "fold"}
    )
    settings = ModelSettings.model_validate(
        {
            "data": {"table": "silver.t", "target": "y", "key": ["id"]},
            "split": {"method": "column", "column": "fold"},
        }
    )
    with pytest.raises(
        TrainingDataError, match=r"1 rows of 'fold' are not train, validation or test.*TEST\?"
    ):
        check_training_data("m", settings, data, count_splits(data))
    inside = TrainingData(data.rows.where("split IS NOT NULL"), ["x"], [], data.problem, {}, data.split)
    with pytest.raises(TrainingDataError, match="the validation split has no labelled rows"):
        check_training_data("m", settings, inside, count_splits(inside))


def test_a_class_absent_from_the_train_split_is_refused(spark):
    rows = [(i, "train" if i < 8 else "test", 0.0 if i < 8 else 2.0) for i in range(10)]
    rows += [(10, "validation", 1.0), (11, "train", 1.0)]
    frame = spark.createDataFrame(rows, "id int, split string, _label double")
    data = TrainingData(
        frame, ["x"], [], Problem("multiclass", "grade", ("a", "b", "c")), {}, {"method": "column"}
    )
    settings = ModelSettings.model_validate({"data": {"table": "silver.t", "target": "grade", "key": ["id"]}})
    counts = count_splits(data)
    assert counts.rows == {"train": 9, "validation": 1, "test": 2}
    assert counts.classes["train"] == {0: 8, 1: 1}
    with pytest.raises(
        TrainingDataError, match=r"the classes \['c'\] of 'grade' have no row in the train split"
    ):
        check_training_data("grades", settings, data, counts)

"""Evaluation metrics against hand counts and scikit-learn on the same scores."""

from __future__ import annotations

import math

import pytest
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

from lakehouse.models.evaluation import best_f1_threshold, evaluate_classifier, score_bins


def scored_rows(spark, rows):
    return spark.createDataFrame(rows, "y int, s double")


ROWS = [
    (1, 0.95),
    (1, 0.8),
    (0, 0.7),
    (1, 0.65),
    (0, 0.4),
    (1, 0.35),
    (0, 0.2),
    (0, 0.1),
    (0, 0.05),
    (1, 0.9),
]


def test_metrics_match_scikit_learn_and_the_confusion_matrix_hand_counts(spark):
    report = evaluate_classifier(scored_rows(spark, ROWS), "y", "s", threshold=0.5)
    labels, scores = [y for y, _ in ROWS], [s for _, s in ROWS]
    assert report.metrics["roc_auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert report.metrics["log_loss"] == pytest.approx(log_loss(labels, scores))
    # Spark's PR AUC is the trapezoid area, scikit-learn's average precision a step sum: close, not equal
    assert report.metrics["pr_auc"] == pytest.approx(average_precision_score(labels, scores), abs=0.08)
    assert report.confusion == {"tp": 4, "fp": 1, "tn": 4, "fn": 1}
    assert report.metrics["precision"] == pytest.approx(0.8) and report.metrics["recall"] == pytest.approx(
        0.8
    )
    assert report.roc[0] == (0.0, 0.0) and report.roc[-1] == (1.0, 1.0)
    assert sum(row["rows"] for row in report.calibration) == 10


def test_the_best_f1_threshold_is_found_on_the_bin_grid(spark):
    rows = [(1, 0.61), (1, 0.7), (1, 0.9), (0, 0.6), (0, 0.3), (0, 0.2)]
    threshold = best_f1_threshold(score_bins(scored_rows(spark, rows), "y", "s", 0.5))
    assert 0.6 < threshold <= 0.61  # separates 0.6 from 0.61: F1 = 1
    report = evaluate_classifier(scored_rows(spark, rows), "y", "s", threshold)
    assert report.metrics["f1"] == 1.0


def test_one_class_only_gives_no_auc(spark):
    report = evaluate_classifier(scored_rows(spark, [(0, 0.2), (0, 0.4)]), "y", "s", 0.5)
    assert math.isnan(report.metrics["roc_auc"]) and report.confusion["tn"] == 2


def test_the_driver_metrics_of_a_search_equal_sparks(spark):
    """A search judges each trial from its collected scores: the same numbers as the Spark path."""
    import random

    from lakehouse.models.evaluation import driver_metric, evaluate_regressor

    rng = random.Random(4)
    # ties in the scores (rounded) exercise the average ranks of ROC AUC
    rows = [(int(rng.random() < 0.4), round(rng.random(), 1)) for _ in range(300)]
    report = evaluate_classifier(scored_rows(spark, rows), "y", "s", threshold=0.5)
    labels, scores = [y for y, _ in rows], [s for _, s in rows]
    for metric in ("roc_auc", "log_loss", "accuracy", "f1"):
        got = driver_metric(labels, scores, metric)
        assert got == pytest.approx(report.metrics[metric], abs=1e-9), metric
    values = [(rng.gauss(0, 3), rng.gauss(0, 3)) for _ in range(200)]
    frame = spark.createDataFrame(values, "y double, p double")
    spark_metrics = evaluate_regressor(frame, "y", "p")
    for metric in ("rmse", "mae", "r2"):
        got = driver_metric([y for y, _ in values], [p for _, p in values], metric)
        assert got == pytest.approx(spark_metrics[metric], abs=1e-9), metric
    assert math.isnan(driver_metric([1, 1], [0.2, 0.4], "roc_auc"))

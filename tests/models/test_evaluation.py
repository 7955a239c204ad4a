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

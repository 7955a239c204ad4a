"""Model evaluation: metrics, curves, calibration and the confusion matrix.

A classifier's scores are reduced in one aggregate to counts per score bin (1,000 bins of width
0.001, split by whether the score reaches the threshold): the curves, the calibration table, the
confusion matrix, log loss and the best-F1 threshold all come from those few rows. ROC AUC and PR
AUC are exact (Spark's BinaryClassificationEvaluator without down-sampling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pyspark.ml.evaluation import BinaryClassificationEvaluator, RegressionEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

BINS = 1000
CALIBRATION_BINS = 10
EPSILON = 1e-15


@dataclass(frozen=True)
class ScoreBin:
    """Rows whose score is in ``[index / BINS, (index + 1) / BINS)``, split by the threshold."""

    index: int
    at_or_above: bool  # score >= the threshold
    positives: int
    negatives: int
    score_sum: float
    log_loss_sum: float


@dataclass
class ClassificationReport:
    """What a classifier achieves on one split."""

    metrics: dict[str, float]
    confusion: dict[str, int]  # tp, fp, tn, fn at the threshold
    roc: list[tuple[float, float]] = field(default_factory=list)  # (false positive rate, recall)
    pr: list[tuple[float, float]] = field(default_factory=list)  # (recall, precision)
    calibration: list[dict[str, float]] = field(default_factory=list)


def score_bins(scored: DataFrame, target: str, score: str, threshold: float) -> list[ScoreBin]:
    """Counts per score bin and side of ``threshold`` (one Spark aggregate, at most 2,002 rows)."""
    value = F.col(score).cast("double")
    clipped = F.least(F.greatest(value, F.lit(EPSILON)), F.lit(1 - EPSILON))
    label = F.col(target).cast("double")
    loss = -(label * F.log(clipped) + (1 - label) * F.log(1 - clipped))
    rows = (
        scored.select(
            F.least(F.floor(value * BINS), F.lit(BINS - 1)).cast("int").alias("bin"),
            (value >= F.lit(threshold)).alias("above"),
            label.alias("label"),
            value.alias("score"),
            loss.alias("loss"),
        )
        .groupBy("bin", "above")
        .agg(
            F.sum("label").alias("positives"),
            F.count_if(F.col("label") == 0).alias("negatives"),
            F.sum("score").alias("score_sum"),
            F.sum("loss").alias("loss_sum"),
        )
        .collect()
    )
    return [
        ScoreBin(
            r["bin"], r["above"], int(r["positives"]), int(r["negatives"]), r["score_sum"], r["loss_sum"]
        )
        for r in rows
    ]


def best_f1_threshold(bins: list[ScoreBin]) -> float:
    """The bin edge ``k / BINS`` whose threshold gives the best F1 (0.5 when no positives)."""
    positives = [0] * (BINS + 1)
    negatives = [0] * (BINS + 1)
    for b in bins:
        positives[b.index] += b.positives
        negatives[b.index] += b.negatives
    total_positives = sum(positives)
    if total_positives == 0:
        return 0.5
    best, best_edge, tp, fp = -1.0, BINS // 2, 0, 0
    for edge in range(BINS - 1, -1, -1):  # threshold edge / BINS: bins >= edge are predicted 1
        tp += positives[edge]
        fp += negatives[edge]
        f1 = 2 * tp / (2 * tp + fp + (total_positives - tp)) if tp else 0.0
        if f1 > best:
            best, best_edge = f1, edge
    return best_edge / BINS


def summarize_bins(bins: list[ScoreBin]) -> ClassificationReport:
    """Confusion matrix, log loss, curves and calibration from the score bins (pure)."""
    tp = sum(b.positives for b in bins if b.at_or_above)
    fp = sum(b.negatives for b in bins if b.at_or_above)
    fn = sum(b.positives for b in bins if not b.at_or_above)
    tn = sum(b.negatives for b in bins if not b.at_or_above)
    rows = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    metrics = {
        "rows": float(rows),
        "positive_rate": (tp + fn) / rows if rows else 0.0,
        "log_loss": sum(b.log_loss_sum for b in bins) / rows if rows else math.nan,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "accuracy": (tp + tn) / rows if rows else 0.0,
    }
    by_index: dict[int, list[int]] = {}
    for b in bins:
        counts = by_index.setdefault(b.index, [0, 0])
        counts[0] += b.positives
        counts[1] += b.negatives
    positives_total, negatives_total = tp + fn, fp + tn
    roc, pr, seen_p, seen_n = [(0.0, 0.0)], [], 0, 0
    for index in sorted(by_index, reverse=True):
        seen_p += by_index[index][0]
        seen_n += by_index[index][1]
        recall_here = seen_p / positives_total if positives_total else 0.0
        roc.append((seen_n / negatives_total if negatives_total else 0.0, recall_here))
        pr.append((recall_here, seen_p / (seen_p + seen_n)))
    calibration = []
    for group in range(CALIBRATION_BINS):
        members = [b for b in bins if b.index * CALIBRATION_BINS // BINS == group]
        count = sum(b.positives + b.negatives for b in members)
        if count:
            calibration.append(
                {
                    "bin": group,
                    "rows": float(count),
                    "mean_score": sum(b.score_sum for b in members) / count,
                    "positive_rate": sum(b.positives for b in members) / count,
                }
            )
    return ClassificationReport(metrics, {"tp": tp, "fp": fp, "tn": tn, "fn": fn}, roc, pr, calibration)


def evaluate_classifier(scored: DataFrame, target: str, score: str, threshold: float) -> ClassificationReport:
    """Metrics of a scored split: exact ROC and PR AUC, and everything :func:`summarize_bins` gives.

    Args:
        scored: one row per example with ``target`` (0/1) and ``score`` (probability of 1).
        threshold: scores at or above it are predicted 1.
    """
    report = summarize_bins(score_bins(scored, target, score, threshold))
    labelled = scored.select(F.col(score).cast("double").alias("s"), F.col(target).cast("double").alias("y"))
    for metric, name in (("roc_auc", "areaUnderROC"), ("pr_auc", "areaUnderPR")):
        evaluator = BinaryClassificationEvaluator(
            rawPredictionCol="s", labelCol="y", metricName=name, numBins=0
        )
        has_both = 0 < report.metrics["positive_rate"] < 1
        report.metrics[metric] = evaluator.evaluate(labelled) if has_both else math.nan
    report.metrics["threshold"] = threshold
    return report


def evaluate_regressor(scored: DataFrame, target: str, prediction: str) -> dict[str, float]:
    """RMSE, MAE and R² of a scored split."""
    frame = scored.select(
        F.col(prediction).cast("double").alias("p"), F.col(target).cast("double").alias("y")
    )
    metrics: dict[str, Any] = {
        name: RegressionEvaluator(predictionCol="p", labelCol="y", metricName=name).evaluate(frame)
        for name in ("rmse", "mae", "r2")
    }
    metrics["rows"] = float(frame.count())
    return metrics


def argmax(probabilities: str) -> F.Column:
    """The class number (0-based) of the largest probability in an array column."""
    column = f"`{probabilities}`"
    return F.expr(f"array_position({column}, array_max({column})) - 1").cast("int")


@dataclass
class MulticlassReport:
    """What a multiclass classifier achieves on one split."""

    metrics: dict[str, float]
    confusion: list[list[int]]  # confusion[actual][predicted]
    per_class: list[dict[str, float]] = field(default_factory=list)  # precision, recall, f1, rows


def evaluate_multiclass(scored: DataFrame, target: str, probabilities: str, classes: int) -> MulticlassReport:
    """Log loss, accuracy and macro F1 (the mean of the classes' F1) of a scored split.

    Args:
        scored: one row per example with ``target`` (the class number) and ``probabilities``
            (an array of one probability per class).
        classes: the number of classes.
    """
    label = F.col(target).cast("int")
    truth = F.element_at(F.col(probabilities), label + 1)
    clipped = F.least(F.greatest(truth, F.lit(EPSILON)), F.lit(1 - EPSILON))
    cells = (
        scored.select(
            label.alias("actual"), argmax(probabilities).alias("predicted"), (-F.log(clipped)).alias("loss")
        )
        .groupBy("actual", "predicted")
        .agg(F.count(F.lit(1)).alias("rows"), F.sum("loss").alias("loss"))
        .collect()
    )
    confusion = [[0] * classes for _ in range(classes)]
    loss = 0.0
    for cell in cells:
        confusion[cell["actual"]][cell["predicted"]] += int(cell["rows"])
        loss += cell["loss"] or 0.0
    rows = sum(map(sum, confusion))
    per_class = []
    for index in range(classes):
        hits = confusion[index][index]
        predicted = sum(confusion[actual][index] for actual in range(classes))
        actual = sum(confusion[index])
        precision = hits / predicted if predicted else 0.0
        recall = hits / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append({"precision": precision, "recall": recall, "f1": f1, "rows": float(actual)})
    present = [c for c in per_class if c["rows"]]
    metrics = {
        "rows": float(rows),
        "log_loss": loss / rows if rows else math.nan,
        "accuracy": sum(confusion[i][i] for i in range(classes)) / rows if rows else math.nan,
        "f1": sum(c["f1"] for c in present) / len(present) if present else math.nan,
    }
    return MulticlassReport(metrics, confusion, per_class)


# metrics computed the same way on the driver (numpy) as in Spark, for small scored splits
DRIVER_METRICS = frozenset({"roc_auc", "log_loss", "accuracy", "f1", "rmse", "mae", "r2"})


def driver_metric(labels: Any, scores: Any, metric: str, threshold: float = 0.5) -> float:
    """One metric of collected labels and scores (a binary classifier's probability of 1, or a
    regression's prediction), equal to what :func:`evaluate_classifier` and
    :func:`evaluate_regressor` give in Spark; a search judges each trial this way in one job.

    ROC AUC is exact (the Mann-Whitney statistic, ties counted half), like Spark's with
    ``numBins=0``; log loss clips scores to ``[1e-15, 1 - 1e-15]`` as the score bins do.
    """
    import numpy as np

    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    if metric == "rmse":
        return float(np.sqrt(np.mean((y - s) ** 2)))
    if metric == "mae":
        return float(np.mean(np.abs(y - s)))
    if metric == "r2":
        total = float(np.sum((y - y.mean()) ** 2))
        return 1.0 - float(np.sum((y - s) ** 2)) / total if total else math.nan
    if metric == "roc_auc":
        positives = int(y.sum())
        negatives = len(y) - positives
        if not positives or not negatives:
            return math.nan
        from scipy.stats import rankdata

        ranks = rankdata(s)  # ties get their average rank
        return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))
    if metric == "log_loss":
        clipped = np.clip(s, EPSILON, 1 - EPSILON)
        return float(np.mean(-(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))))
    predicted = (s >= threshold).astype(float)
    if metric == "accuracy":
        return float(np.mean(predicted == y))
    if metric == "f1":
        tp = float(np.sum((predicted == 1) & (y == 1)))
        fp = float(np.sum((predicted == 1) & (y == 0)))
        fn = float(np.sum((predicted == 0) & (y == 1)))
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    raise ValueError(f"{metric} is not computed on the driver; use {sorted(DRIVER_METRICS)}")

"""Promotion rules: the first model, a better one by the margin, a worse or not-better-enough one."""

from __future__ import annotations

import math

import pytest

from lakehouse.models.registry import decide_promotion


@pytest.mark.parametrize(
    ("metric", "candidate", "production", "margin", "promote"),
    [
        ("roc_auc", 0.71, None, 0.01, True),  # nothing in production yet
        ("roc_auc", 0.80, 0.78, 0.01, True),  # better by more than the margin
        ("roc_auc", 0.785, 0.78, 0.01, False),  # better, but by less than the margin
        ("roc_auc", 0.78, 0.78, 0.0, False),  # a tie never replaces production
        ("roc_auc", 0.70, 0.78, 0.0, False),
        ("log_loss", 0.30, 0.35, 0.02, True),  # lower is better
        ("log_loss", 0.34, 0.35, 0.02, False),
        ("rmse", 9.0, 10.0, 0.5, True),
        ("roc_auc", math.nan, 0.6, 0.0, False),  # one class in the test split: no AUC, no promotion
    ],
)
def test_promotion_needs_a_better_test_metric_by_the_margin(metric, candidate, production, margin, promote):
    decision = decide_promotion(metric, candidate, production, margin)
    assert decision.promote is promote
    assert decision.reason

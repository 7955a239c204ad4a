"""Confirming an AutoML search's top trials by k-fold cross-validation (no Spark here).

A validation split of a few hundred rows ranks close trials by noise, and a search of many trials
makes it likely that the best on validation is only the luckiest (on scikit-learn's diabetes, 88
validation rows, the best of 101 trials had validation RMSE 53.8 and test RMSE 57.0). When the
validation split is small, the top trials (the best two overall, the best of every other
learner, then each learner's next best, up to three of each) are fitted again on k folds of the
training and validation rows together, each fold held out once, and the trial with the best mean
held-out metric is kept. Its configuration is then fitted once more on the training and
validation rows together (``refit``, on by default): the validation rows no longer choose alone,
so they train the model that is evaluated on test and registered. The search keeps the time the
confirmation of its top trials so far needs (at most half its budget) and stops starting trials
when only that is left.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from lakehouse.errors import ModelTrainingError
from lakehouse.models.automl import loss_of

log = logging.getLogger(__name__)
SMALL_VALIDATION = 10_000  # validation rows up to which ``folds: auto`` cross-validates
AUTO_FOLDS = 3  # a Spark fit costs seconds: 3 folds hold out every row at the price of 3 trials
MOST_OF_BUDGET = 0.5  # the confirmation takes at most this share of an automl budget
TOP = 2  # best trials overall that are confirmed, besides each other learner's best
PER_LEARNER = 3  # then the next best of each learner, up to this many of each


class Judged(Protocol):
    index: int
    learner: str
    metric: float
    seconds: float


def folds_for(setting: int | str, validation_rows: int) -> int:
    """The folds of a search's confirmation: the setting, or with ``auto`` ``AUTO_FOLDS`` for a
    small validation split and 0 (none) for a large one."""
    if setting == "auto":
        return AUTO_FOLDS if validation_rows <= SMALL_VALIDATION else 0
    return int(setting)


def _top(trials: Sequence[Judged], metric: str) -> list[Judged]:
    """The trials to confirm, in order: the ``TOP`` best on validation, the best of every other
    learner, then each learner's next best in turn, up to ``PER_LEARNER`` of each (a learner's
    best on a small validation split is often a configuration that fits those rows by luck)."""
    finite = [t for t in trials if math.isfinite(loss_of(metric, t.metric))]
    ranked = sorted(finite, key=lambda t: loss_of(metric, t.metric))
    by_learner: dict[str, list[Judged]] = {}
    for trial in ranked:  # learners in the order of their best trial
        by_learner.setdefault(trial.learner, []).append(trial)
    chosen = ranked[:TOP]
    for depth in range(PER_LEARNER):
        for learner, runs in by_learner.items():
            mine = [t for t in chosen if t.learner == learner]
            if len(runs) > depth and len(mine) <= depth and all(runs[depth] is not t for t in chosen):
                chosen.append(runs[depth])
    return chosen


def _fold_seconds(trials: Sequence[Judged]) -> dict[str, float]:
    """A fold's expected seconds per learner: the median of its trials' (a learner's first trial
    also pays for warming the JVM up)."""
    seconds: dict[str, list[float]] = {}
    for trial in trials:
        seconds.setdefault(trial.learner, []).append(trial.seconds)
    return {learner: statistics.median(values) for learner, values in seconds.items()}


def seconds_needed(trials: Sequence[Judged], metric: str, folds: int, at_once: int) -> float:
    """Estimated seconds to confirm the top trials so far: what an AutoML search keeps of its
    budget for the confirmation."""
    each = _fold_seconds(trials)
    return sum(folds * each[t.learner] for t in _top(trials, metric)) / max(1, at_once)


def candidates(
    trials: Sequence[Judged], metric: str, folds: int, seconds_left: float, at_once: int, slack: float = 0.0
) -> list[Judged]:
    """The top trials to confirm (see :func:`_top`), as many as fit in ``seconds_left`` (a fold
    is estimated at its learner's median trial, ``at_once`` at a time); the best two may overrun
    it by ``slack`` and one fold (the running trials of the search may have eaten into the time it
    kept). None when the best two do not fit, or fewer than two trials have a metric."""
    each = _fold_seconds(trials)
    top = _top(trials, metric)
    if len(top) < 2:
        return []
    kept, cost = top[:2], sum(folds * each[t.learner] for t in top[:2]) / max(1, at_once)
    if cost > seconds_left + slack + max(each[t.learner] for t in kept):
        return []
    for trial in top[2:]:
        cost += folds * each[trial.learner] / max(1, at_once)
        if cost > seconds_left:
            break
        kept.append(trial)
    return kept


def cross_validate(
    trials: Sequence[Judged],
    folds: int,
    at_once: int,
    fit_fold: Callable[[Any, int], float],
) -> dict[int, float]:
    """Each trial's mean held-out metric over ``folds`` folds (trial index -> mean), fitting
    ``at_once`` folds side by side. A trial one of whose folds fails (a
    :class:`ModelTrainingError`) gets NaN: it cannot be kept on this evidence."""

    def held_out(job: tuple[Any, int]) -> float:
        trial, fold = job
        try:
            return fit_fold(trial, fold)
        except ModelTrainingError as error:
            log.info("cross-validation: trial %d fold %d failed: %s", trial.index, fold, error)
            return math.nan

    jobs = [(trial, fold) for trial in trials for fold in range(folds)]
    with ThreadPoolExecutor(max_workers=max(1, at_once), thread_name_prefix="folds") as pool:
        values = list(pool.map(held_out, jobs))
    means: dict[int, float] = {}
    for position, trial in enumerate(trials):
        scores = values[position * folds : (position + 1) * folds]
        means[trial.index] = math.nan if any(math.isnan(v) for v in scores) else statistics.fmean(scores)
    return means


def confirmed_best(trials: Sequence[Judged], means: dict[int, float], metric: str) -> Judged | None:
    """The trial with the best mean held-out metric (None when no trial has one)."""
    scored = [t for t in trials if math.isfinite(loss_of(metric, means.get(t.index, math.nan)))]
    return min(scored, key=lambda t: loss_of(metric, means[t.index]), default=None)

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

The folds' held-out scores then choose an average (:func:`select_ensemble`, Caruana et al.,
"Ensemble Selection from Libraries of Models", ICML 2004): from the best confirmed trial alone,
add (again, or a new one) the confirmed trial whose addition most improves the mean held-out
metric, while one does. On a small validation split the kept trial changes from run to run with
the order in which trials finish; an average of the top few varies less, and scores no lower.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from lakehouse.errors import ModelTrainingError
from lakehouse.models.automl import loss_of
from lakehouse.models.evaluation import driver_metric

log = logging.getLogger(__name__)
SMALL_VALIDATION = 10_000  # validation rows up to which ``folds: auto`` cross-validates
AUTO_FOLDS = 3  # a Spark fit costs seconds: 3 folds hold out every row at the price of 3 trials
MOST_OF_BUDGET = 0.5  # the confirmation takes at most this share of an automl budget
TOP = 2  # best trials overall that are confirmed, besides each other learner's best
PER_LEARNER = 3  # then the next best of each learner, up to this many of each
RECENT = 5  # a learner's last trials, whose median estimates a fold's seconds
ENSEMBLE_MEMBERS = 3  # distinct trials in an average at most (each is fitted once more)
ENSEMBLE_STEPS = 10  # additions to an average at most (a weight is a count of them)


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


def fold_seconds(trials: Sequence[Judged]) -> dict[str, float]:
    """A fold's expected seconds per learner: the median of its last ``RECENT`` trials (its first
    trials also pay for warming the JVM up)."""
    seconds: dict[str, list[float]] = {}
    for trial in sorted(trials, key=lambda t: t.index):
        seconds.setdefault(trial.learner, []).append(trial.seconds)
    return {learner: statistics.median(values[-RECENT:]) for learner, values in seconds.items()}


def seconds_needed(trials: Sequence[Judged], metric: str, folds: int, at_once: int) -> float:
    """Estimated seconds to confirm the top trials so far: what an AutoML search keeps of its
    budget for the confirmation."""
    each = fold_seconds(trials)
    return sum(folds * each[t.learner] for t in _top(trials, metric)) / max(1, at_once)


def candidates(
    trials: Sequence[Judged], metric: str, folds: int, seconds_left: float, at_once: int, slack: float = 0.0
) -> list[Judged]:
    """The top trials to confirm (see :func:`_top`), best first, when the best two fit in
    ``seconds_left`` (a fold estimated at its learner's recent trials, ``at_once`` at a time);
    they may overrun it by ``slack`` and one fold (the running trials of the search may have eaten
    into the time it kept). :func:`cross_validate` confirms the others while time is left. None
    when the best two do not fit, or fewer than two trials have a metric."""
    each = fold_seconds(trials)
    top = _top(trials, metric)
    if len(top) < 2:
        return []
    cost = sum(folds * each[t.learner] for t in top[:2]) / max(1, at_once)
    if cost > seconds_left + slack + max(each[t.learner] for t in top[:2]):
        return []
    return top


def cross_validate(
    trials: Sequence[Judged],
    folds: int,
    at_once: int,
    fit_fold: Callable[[Any, int], float],
    seconds_left: float = math.inf,
    estimates: Mapping[str, float] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[int, float]:
    """The mean held-out metric over ``folds`` folds of each trial confirmed (trial index ->
    mean), fitting ``at_once`` folds side by side.

    The first two trials are always confirmed; each later one only when its folds are expected
    to end within ``seconds_left`` (a fold estimated at the median of that learner's folds so
    far, else at ``estimates[learner]``, else at nothing: confirmed while any time is left). A trial one of
    whose folds fails (a :class:`ModelTrainingError`) gets NaN: it cannot be kept on this
    evidence.
    """
    jobs = [(trial, fold) for trial in trials for fold in range(folds)]
    lock = threading.Lock()
    started_at = clock()
    measured: dict[str, list[float]] = {}
    scores: dict[tuple[int, int], float] = {}
    confirmed: list[Any] = []
    state = {"next": 0, "stopped": False}

    def take() -> tuple[Any, int] | None:
        with lock:
            if state["stopped"] or state["next"] >= len(jobs):
                return None
            trial, fold = jobs[state["next"]]
            if fold == 0 and len(confirmed) >= 2:
                done = measured.get(trial.learner)
                each = statistics.median(done) if done else (estimates or {}).get(trial.learner, 0.0)
                if clock() - started_at + folds * each / max(1, at_once) > seconds_left:
                    state["stopped"] = True
                    return None
            if fold == 0:
                confirmed.append(trial)
            state["next"] += 1
            return trial, fold

    def work() -> None:
        while (job := take()) is not None:
            trial, fold = job
            began = clock()
            try:
                value = fit_fold(trial, fold)
            except ModelTrainingError as error:
                log.info("cross-validation: trial %d fold %d failed: %s", trial.index, fold, error)
                value = math.nan
            with lock:
                scores[trial.index, fold] = value
                measured.setdefault(trial.learner, []).append(clock() - began)

    with ThreadPoolExecutor(max_workers=max(1, at_once), thread_name_prefix="folds") as pool:
        for worker in [pool.submit(work) for _ in range(max(1, at_once))]:
            worker.result()
    return _fold_means(confirmed, scores, folds)


def _fold_means(
    confirmed: Sequence[Any], scores: dict[tuple[int, int], float], folds: int
) -> dict[int, float]:
    """Each confirmed trial's mean over its folds; NaN when one of them failed."""
    means: dict[int, float] = {}
    for trial in confirmed:
        values = [scores[trial.index, fold] for fold in range(folds)]
        means[trial.index] = math.nan if any(math.isnan(v) for v in values) else statistics.fmean(values)
    return means


def confirmed_best(trials: Sequence[Judged], means: dict[int, float], metric: str) -> Judged | None:
    """The trial with the best mean held-out metric (None when no trial has one)."""
    scored = [t for t in trials if math.isfinite(loss_of(metric, means.get(t.index, math.nan)))]
    return min(scored, key=lambda t: loss_of(metric, means[t.index]), default=None)


def select_ensemble(
    held_out: Mapping[int, Sequence[tuple[Any, Any]]], order: Sequence[int], metric: str
) -> tuple[dict[int, int], float]:
    """Greedy ensemble selection with replacement on the folds' held-out scores.

    Args:
        held_out: trial index -> per fold, the held-out rows' labels and the trial's scores
            (a binary classifier's probability of 1, a regression's prediction), the rows in the
            same order for every trial.
        order: the confirmed trials to choose from, best mean held-out metric first.

    Returns:
        Trial index -> times chosen (its weight is that share of the total: the best trial alone
        is ``{best: 1}``), and the mean held-out metric of that average. At most
        ``ENSEMBLE_MEMBERS`` distinct trials and ``ENSEMBLE_STEPS`` additions.
    """
    usable = [index for index in order if index in held_out]
    if not usable:
        return {}, math.nan
    folds = len(held_out[usable[0]])

    def mean_metric(counts: Mapping[int, int]) -> float:
        total = sum(counts.values())
        values = []
        for fold in range(folds):
            labels = held_out[usable[0]][fold][0]
            scores = sum(count * held_out[index][fold][1] for index, count in counts.items()) / total
            values.append(driver_metric(labels, scores, metric))
        return statistics.fmean(values)

    counts = {usable[0]: 1}
    best = mean_metric(counts)
    for _ in range(ENSEMBLE_STEPS - 1):
        pool = usable if len(counts) < ENSEMBLE_MEMBERS else list(counts)
        tried = [(mean_metric({**counts, index: counts.get(index, 0) + 1}), index) for index in pool]
        value, chosen = min(tried, key=lambda pair: loss_of(metric, pair[0]))
        if not loss_of(metric, value) < loss_of(metric, best):
            break
        counts[chosen] = counts.get(chosen, 0) + 1
        best = value
    return counts, best

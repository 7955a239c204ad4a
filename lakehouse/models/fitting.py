"""The search of a model: fit one pipeline per trial on the training rows and keep the trial best
on validation, shaped like pyspark.ml's tuning (an estimator per learner, the parameter maps of
:mod:`lakehouse.models.tuning` or of AutoML, and an evaluator on the validation rows):

- :class:`TrialSearch` holds what the trials share (rows, features, threads, how many at once)
  and fits them: SynapseML LightGBM over a random or grid search (early stopping on the
  validation rows), or, with ``strategy: automl``, the learners and parameters that
  :mod:`lakehouse.models.automl` chooses within the time budget;
- :func:`select_trial` keeps the best on validation;
- :meth:`TrialSearch.confirm` (AutoML with a small validation split) confirms the top trials on
  folds of the training and validation rows (:mod:`lakehouse.models.cross_validation`), fits the
  kept configuration again on those rows together, and keeps a weighted average of up to three
  confirmed trials when it beats the best alone on the folds' held-out rows.

:func:`search` runs the three on a search :meth:`TrialSearch.prepare` made.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config.models import LOWER_IS_BETTER, ModelSettings
from lakehouse.errors import ModelError, ModelTrainingError
from lakehouse.models import cross_validation
from lakehouse.models.automl import Proposal, as_ranges, loss_of, run_automl
from lakehouse.models.dataset import SPLIT_COLUMN
from lakehouse.models.engine import engine_call
from lakehouse.models.evaluation import (
    DRIVER_METRICS,
    driver_metric,
    evaluate_classifier,
    evaluate_multiclass,
    evaluate_regressor,
)
from lakehouse.models.learners import ENSEMBLE, FeatureSet, averaged, learner_named
from lakehouse.models.problem import LABEL_COLUMN, Problem
from lakehouse.models.scoring import score
from lakehouse.models.training_data import TrainingData
from lakehouse.models.tuning import run_trials, trial_params, trials_at_once

VALIDATION_FLAG = "_is_validation"
FOLD_COLUMN = "_fold"
ROW_COLUMN = "_row"  # a hash of the row's columns: the folds, and the order of held-out scores
ROWS_PER_PARTITION = 200_000  # training rows per partition for Spark ML's learners (at most the cores)
DRIVER_ROWS = 500_000  # validation splits up to this size are judged on the driver in each trial
SCORE = "_score"
PROBABILITIES = "probabilities"


@dataclass
class Trial:
    """One fit of the search: its learner and parameters, the validation metric, when it started
    (seconds after the search began) and how long it took."""

    index: int
    params: dict[str, Any]
    searched: dict[str, Any]
    metric: float
    best_iteration: int | None
    seconds: float
    model: Any = field(repr=False)
    learner: str = "lightgbm"
    started: float = 0.0
    error: str | None = None  # why the fit failed (an AutoML search goes on without it)
    cross_validated: float | None = None  # mean held-out metric over the folds, when confirmed
    refitted: Any = field(default=None, repr=False)  # fitted on train + validation, when kept and refit
    members: dict[int, float] = field(default_factory=dict)  # an ensemble's trials and weights

    @property
    def kept_model(self) -> Any:
        """The model registered when this trial wins: its refit when there is one."""
        return self.model if self.refitted is None else self.refitted


def executor_cores(spark) -> int:
    """Cores of one executor: ``spark.executor.cores`` when set, else the default parallelism
    (all cores of ``local[*]``, or of a standalone cluster's single executor)."""
    configured = spark.conf.get("spark.executor.cores", None)
    return int(configured) if configured else max(1, spark.sparkContext.defaultParallelism)


def _better(metric: str, a: float, b: float) -> bool:
    if math.isnan(b):
        return not math.isnan(a)
    return a < b if metric in LOWER_IS_BETTER else a > b


def scored_split(model: Any, rows: DataFrame, problem: Problem, settings: ModelSettings) -> DataFrame:
    multiclass = problem.kind == "multiclass"
    scored = score(model, rows, problem.task, [LABEL_COLUMN], settings.scorer, multiclass=multiclass)
    return scored if multiclass else scored.withColumnRenamed("score", SCORE)


def split_metrics(
    scored: DataFrame, problem: Problem, threshold: float | None
) -> tuple[dict[str, float], Any]:
    """The metrics of a scored split for the problem's kind, and the full report (or None)."""
    if problem.kind == "binary":
        report = evaluate_classifier(scored, LABEL_COLUMN, SCORE, threshold if threshold is not None else 0.5)
        return report.metrics, report
    if problem.kind == "multiclass":
        report = evaluate_multiclass(scored, LABEL_COLUMN, PROBABILITIES, len(problem.classes))
        return report.metrics, report
    return evaluate_regressor(scored, LABEL_COLUMN, SCORE), None


def learner_params(settings: ModelSettings, problem: Problem, name: str) -> dict[str, Any]:
    params = dict(settings.params)
    objective = params.get("objective")
    if problem.kind == "multiclass":
        if objective in ("binary", "regression"):
            raise ModelError(
                f"models.models.{name}.params.objective: {objective} cannot learn {len(problem.classes)} "
                "classes; use multiclass (or leave objective out)"
            )
        params.setdefault("objective", "multiclass")
    return params


def feature_set(data: TrainingData, learners: Sequence[str]) -> FeatureSet:
    """The features as the learners see them; the categories of each categorical feature in the
    training rows are counted (one aggregate) only for learners other than LightGBM."""
    counted = data.categorical if any(name != "lightgbm" for name in learners) else []
    cardinality: dict[str, int] = {}
    if counted:
        row = (
            data.rows.where(F.col(SPLIT_COLUMN) == "train")
            .agg(*[F.count_distinct(F.col(f"`{c}`")).alias(f"_c{i}") for i, c in enumerate(counted)])
            .first()
        )
        cardinality = {c: int(row[f"_c{i}"]) for i, c in enumerate(counted)}
    return FeatureSet(data.features, data.categorical, data.string_features, cardinality)


@dataclass
class TrialSearch:
    """One model's search: what its trials share, and fitting them (see the module docstring).

    Build it with :meth:`prepare`; ``on_trial`` is called with each finished :class:`Trial`
    (from the thread that fitted it), failed ones included.
    """

    name: str
    settings: ModelSettings
    data: TrainingData
    metric: str
    log: logging.Logger
    features: FeatureSet
    train_count: int
    lightgbm_rows: DataFrame  # the rows LightGBM fits on (with the validation rows for early stopping)
    train_rows: DataFrame  # the rows Spark ML's learners fit on, in few partitions
    validation: DataFrame
    partitions: int
    threads: int  # LightGBM's threads per fit
    at_once: int  # trials fitted side by side
    base: dict[str, Any]  # the model's LightGBM parameters, before the search's
    candidates: list[dict[str, Any]]  # a random or grid search's parameter maps
    on_driver: bool  # a trial's metric from its collected scores (one Spark job)
    folds: int  # AutoML's cross-validation folds; 0: none
    on_trial: Callable[[Trial], None] | None = None
    started_at: float = field(default_factory=time.monotonic)

    @property
    def automl(self) -> bool:
        return self.settings.search is not None and self.settings.search.strategy == "automl"

    @classmethod
    def prepare(
        cls,
        name: str,
        settings: ModelSettings,
        data: TrainingData,
        metric: str,
        cores: int,
        log: logging.Logger,
        on_trial: Callable[[Trial], None] | None = None,
        rows: dict[str, int] | None = None,
    ) -> TrialSearch:
        """What the trials of one search share.

        Args:
            cores: the cores of one executor (:func:`executor_cores`).
            rows: the rows per split (of ``count_splits``): the training rows size the search
                spaces and partitions; up to ``DRIVER_ROWS`` validation rows, a trial's metric is
                computed from its collected scores.
        """
        search = settings.search
        automl = search is not None and search.strategy == "automl"
        learners = search.learner_names if automl else ["lightgbm"]  # type: ignore[union-attr]
        features = engine_call(name, lambda: feature_set(data, learners), data.features, data.problem.target)
        train_count = (rows or {}).get("train") or data.rows.where(F.col(SPLIT_COLUMN) == "train").count()
        lightgbm_splits = ["train", "validation"] if settings.early_stopping_rounds > 0 else ["train"]
        # Spark ML's learners run a job per iteration or tree level: small data in few partitions
        partitions = max(1, min(cores, math.ceil(train_count / ROWS_PER_PARTITION)))
        threads = cores if settings.threads == "auto" else settings.threads
        base = learner_params(settings, data.problem, name)
        candidates = [] if automl else trial_params(search, base)
        at_once = trials_at_once(
            search.parallelism if search else 1,
            cores,
            1 if automl else threads,  # most automl trials are short: their Spark jobs wait more than compute
            (search.max_trials or 10**6) if automl else len(candidates),  # type: ignore[union-attr]
        )
        if at_once > 1:  # share the cores between the fits running together
            threads = max(1, cores // at_once)
        on_driver = (
            data.problem.kind != "multiclass"
            and metric in DRIVER_METRICS
            and rows is not None
            and rows["validation"] <= DRIVER_ROWS
        )
        validation_rows = rows["validation"] if rows else DRIVER_ROWS
        folds = cross_validation.folds_for(search.folds, validation_rows) if automl else 0  # type: ignore[union-attr]
        return cls(
            name, settings, data, metric, log, features, train_count,
            data.rows.where(F.col(SPLIT_COLUMN).isin(lightgbm_splits)),
            data.rows.where(F.col(SPLIT_COLUMN) == "train").coalesce(partitions),
            data.rows.where(F.col(SPLIT_COLUMN) == "validation"),
            partitions, threads, at_once, base, candidates, on_driver, folds, on_trial,
        )  # fmt: skip

    def judge(self, model: Any, held_out: DataFrame) -> float:
        """The selection metric of ``model`` on ``held_out`` rows."""
        scored = scored_split(model, held_out, self.data.problem, self.settings)
        if self.on_driver:
            frame = scored.select(LABEL_COLUMN, SCORE).toPandas()
            return driver_metric(frame[LABEL_COLUMN], frame[SCORE], self.metric)
        return split_metrics(scored, self.data.problem, 0.5)[0][self.metric]

    def fit(self, proposal: Proposal) -> Trial:
        """Fit one proposal and judge it on validation; a failure is reported (a failed
        configuration is part of the search) and raised."""
        trial_started = time.monotonic()
        try:
            return engine_call(
                self.name, lambda: self._fit_trial(proposal), self.data.features, self.data.problem.target
            )
        except ModelTrainingError as error:
            if self.on_trial is not None:
                seconds = round(time.monotonic() - trial_started, 2)
                started = round(trial_started - self.started_at, 2)
                failed = Trial(
                    proposal.index, proposal.params, proposal.searched, math.nan, None, seconds, None,
                    proposal.learner, started, str(error),
                )  # fmt: skip
                self.on_trial(failed)
            raise

    def _fit_trial(self, proposal: Proposal) -> Trial:
        trial_started = time.monotonic()
        learner = learner_named(proposal.learner)
        lightgbm = learner.name == "lightgbm"
        pipeline = learner.pipeline(
            self.data.problem.task,
            self.features,
            LABEL_COLUMN,
            proposal.params,
            self.threads if lightgbm else None,
            VALIDATION_FLAG,
            self.settings.early_stopping_rounds,
            key=f"models.models.{self.name}.params"
            if lightgbm
            else f"models.models.{self.name}.search.learners",
        )
        model = pipeline.fit(self.lightgbm_rows if lightgbm else self.train_rows)
        trial = Trial(
            proposal.index,
            proposal.params,
            proposal.searched,
            self.judge(model, self.validation),
            learner.best_iteration(model),
            round(time.monotonic() - trial_started, 2),
            model,
            learner.name,
            round(trial_started - self.started_at, 2),
        )
        planned = "?" if self.automl else str(len(self.candidates))
        self.log.info(
            "model %s: trial %d/%s %s %s -> validation %s %.4f (%.1f s)",
            self.name, proposal.index + 1, planned, learner.name, trial.searched, self.metric, trial.metric,
            trial.seconds,
        )  # fmt: skip
        if self.on_trial is not None:
            self.on_trial(trial)
        return trial

    def run(self) -> list[Trial]:
        """Fit every trial: the parameter maps of a random or grid search, or AutoML's within its
        budget."""
        if self.automl:
            return self._run_automl()
        search = self.settings.search
        searched_names = list(search.space) if search else []

        def fit_params(index: int, params: dict[str, Any]) -> Trial:
            searched = {k: params[k] for k in searched_names}
            return self.fit(Proposal(index, "lightgbm", params, searched, 0.0))

        return run_trials(
            fit_params, self.candidates, self.at_once, search.budget_seconds if search else None
        )

    def _run_automl(self) -> list[Trial]:
        search = self.settings.search
        assert search is not None
        spaces = {
            learner: (
                learner_named(learner).relative_cost,
                learner_named(learner).narrowed_space(
                    search.narrowing(learner),
                    key=f"models.models.{self.name}.search.learners.{learner}",
                    task=self.data.problem.task,
                    train_rows=self.train_count,
                ),
                self.base if learner == "lightgbm" else {},
            )
            for learner in search.learner_names
        }
        self.log.info(
            "model %s: automl over %s for %.0f s, %d trials at once; spaces %s",
            self.name, ", ".join(search.learner_names), search.budget_seconds, self.at_once,
            {learner: as_ranges(space) for learner, (_, space, _) in spaces.items()},
        )  # fmt: skip
        budget: float = search.budget_seconds  # type: ignore[assignment]

        def reserve(done: Sequence[Trial]) -> float:  # the time the confirmation will need
            needed = cross_validation.seconds_needed(done, self.metric, self.folds, self.at_once)
            return min(cross_validation.MOST_OF_BUDGET * budget, needed)

        trials, _ = run_automl(
            spaces,
            self.fit,
            self.metric,
            budget,
            self.at_once,
            search.seed,
            search.max_trials,
            reserve=reserve if self.folds else None,
        )
        return trials

    def confirm(self, trials: list[Trial], best: Trial) -> tuple[Trial, int]:
        """AutoML's confirmation on folds (see the module docstring): the kept trial (the best
        confirmed, its refit, or an average of trials appended to ``trials``) and how many
        trials were confirmed."""
        search = self.settings.search
        assert search is not None and search.budget_seconds is not None
        budget = search.budget_seconds
        left = budget - (time.monotonic() - self.started_at)
        top = cross_validation.candidates(
            trials, self.metric, self.folds, left, self.at_once, slack=0.1 * budget
        )
        if not top:
            self.log.info("model %s: no time left to cross-validate (%.0f s)", self.name, left)
            return best, 0
        averaging = self.on_driver and search.ensemble
        pooled = _PooledFits(
            self.name, self.data, self.features, self.threads, self.partitions, self.folds, self.judge,
            (self.settings.scorer, self.metric) if averaging else None,
        )  # fmt: skip
        self.log.info(
            "model %s: %d-fold cross-validation on the training and validation rows of trials %s "
            "(the first two, then the others while the budget lasts)",
            self.name, self.folds, [t.index for t in top],
        )  # fmt: skip
        means = cross_validation.cross_validate(
            top, self.folds, self.at_once, pooled.fold,
            seconds_left=budget - (time.monotonic() - self.started_at),
            estimates=cross_validation.fold_seconds(trials),
        )  # fmt: skip
        for trial in top:
            trial.cross_validated = means.get(trial.index)
        best = cross_validation.confirmed_best(top, means, self.metric) or best  # type: ignore[assignment]
        self.log.info(
            "model %s: %d trials confirmed; kept trial %d (%s), k-fold %s %s",
            self.name, len(means), best.index, best.learner, self.metric, best.cross_validated,
        )  # fmt: skip
        if search.refit:  # the validation rows no longer choose alone: they train the kept configuration
            self.log.info(
                "model %s: trial %d fitted again on the training and validation rows", self.name, best.index
            )
            best.refitted = pooled.refit(best)
        if averaging:
            ensemble = _average_of_trials(
                self.name, self.data, trials, pooled, self.judge, self.validation, self.metric,
                self.at_once, search.refit, self.started_at,
            )  # fmt: skip
            if ensemble is not None:
                self.log.info(
                    "model %s: kept the average of trials %s, k-fold %s %s (the best alone: %s)",
                    self.name, ensemble.searched["members"], self.metric, ensemble.cross_validated,
                    best.cross_validated,
                )  # fmt: skip
                if self.on_trial is not None:
                    self.on_trial(ensemble)
                trials.append(ensemble)
                best = ensemble
        return best, len(means)


def select_trial(trials: Sequence[Trial], metric: str) -> Trial:
    """The trial best on validation (the first of equals)."""
    best = trials[0]
    for trial in trials[1:]:
        if _better(metric, trial.metric, best.metric):
            best = trial
    return best


def search(trials_search: TrialSearch) -> tuple[list[Trial], Trial, dict[str, Any]]:
    """Fit each trial of a prepared search on the training rows and keep the best on validation
    (confirmed on folds when AutoML asks for it).

    Returns:
        The trials, the kept one, and the fitting facts (threads, trials at once, seconds).
    """
    trials = trials_search.run()
    best = select_trial(trials, trials_search.metric)
    confirmed = 0
    if trials_search.folds:
        best, confirmed = trials_search.confirm(trials, best)
    seconds = time.monotonic() - trials_search.started_at
    facts = {
        "threads": trials_search.threads,
        "trials_at_once": trials_search.at_once,
        "search_seconds": round(seconds, 1),
    }
    if trials_search.folds:
        facts |= {
            "folds": trials_search.folds,
            "cross_validated_trials": confirmed,
            "refitted": best.refitted is not None,
            "averaged_trials": len(best.members),
        }
    return trials, best, facts


def _average_of_trials(
    name: str,
    data: TrainingData,
    trials: Sequence[Trial],
    pooled: _PooledFits,
    judge: Any,
    validation: DataFrame,
    metric: str,
    at_once: int,
    refit: bool,
    started_at: float,
) -> Trial | None:
    """The weighted average of confirmed trials that :func:`cross_validation.select_ensemble`
    chooses on the folds' held-out scores, as a trial of its own: its model averages the members'
    fits on the training rows (judged on validation, where the threshold is picked), its
    ``refitted`` their fits on the training and validation rows. None when the best trial alone
    is not beaten."""
    confirmed = sorted(
        (t for t in trials if t.cross_validated is not None and not math.isnan(t.cross_validated)),
        key=lambda t: loss_of(metric, t.cross_validated),
    )
    counts, held_out_metric = cross_validation.select_ensemble(
        pooled.held_out_scores(), [t.index for t in confirmed], metric
    )
    if len(counts) < 2:
        return None
    began = time.monotonic()
    by_index = {t.index: t for t in confirmed}
    members = [by_index[index] for index in counts]  # in the order chosen, the best first
    weights = [counts[t.index] / sum(counts.values()) for t in members]
    task = data.problem.task
    model = averaged([t.model for t in members], weights, task)
    refitted = None
    if refit:
        with ThreadPoolExecutor(max_workers=max(1, at_once), thread_name_prefix="refits") as pool:
            fits = list(pool.map(lambda t: t.refitted or pooled.refit(t), members))
        refitted = averaged(fits, weights, task)
    value = engine_call(name, lambda: judge(model, validation), data.features, data.problem.target)
    shown = ", ".join(f"{t.index} ({t.learner}) {w:.2f}" for t, w in zip(members, weights, strict=True))
    params = {
        "members": ",".join(str(t.index) for t in members),
        "weights": ",".join(f"{w:.4f}" for w in weights),
    }
    return Trial(
        max(t.index for t in trials) + 1,
        params,
        {"members": shown},
        value,
        None,
        round(time.monotonic() - began, 2),
        model,
        ENSEMBLE.name,
        round(began - started_at, 2),
        cross_validated=held_out_metric,
        refitted=refitted,
        members={t.index: w for t, w in zip(members, weights, strict=True)},
    )


class _PooledFits:
    """Fits of a trial's learner and parameters on the training and validation rows together:
    ``fold(trial, k)`` fits outside fold ``k`` and judges on it, ``refit(trial)`` fits on them all.
    LightGBM gets the rounds its early stopping chose and no early stopping: a fold must not stop
    on the rows it is judged by. With ``keep`` (the scorer and the metric), each fold's held-out
    labels and scores are kept, rows in the order of their hash, for :meth:`held_out_scores`."""

    def __init__(
        self,
        name: str,
        data: TrainingData,
        features: FeatureSet,
        threads: int,
        partitions: int,
        folds: int,
        judge: Any,
        keep: tuple[str, str] | None = None,
    ) -> None:
        self.name, self.data, self.features = name, data, features
        self.threads, self.partitions, self.judge, self.keep = threads, partitions, judge, keep
        self.folds = max(folds, 1)
        self.scores: dict[tuple[int, int], tuple[Any, Any]] = {}
        pooled = data.rows.where(F.col(SPLIT_COLUMN).isin(["train", "validation"]))
        # every column, the row's key or entity and time included: folds of rows, as the split is
        # (the features and label alone would put identical rows, a person's repeated years, in
        # one fold)
        row = [column for column in data.rows.columns if column not in (SPLIT_COLUMN, VALIDATION_FLAG)]
        hashed = F.xxhash64(*[F.col(f"`{column}`") for column in row])
        self.pooled = pooled.withColumn(ROW_COLUMN, hashed).withColumn(
            FOLD_COLUMN, F.pmod(F.col(ROW_COLUMN), F.lit(self.folds))
        )

    def _fit(self, trial: Trial, rows: DataFrame) -> Any:
        learner = learner_named(trial.learner)
        lightgbm = learner.name == "lightgbm"
        params = dict(trial.params)
        if lightgbm and trial.best_iteration and trial.best_iteration > 0:
            params["numIterations"] = trial.best_iteration
        pipeline = learner.pipeline(
            self.data.problem.task, self.features, LABEL_COLUMN, params, self.threads if lightgbm else None,
            None, 0, key=f"models.models.{self.name}.search",
        )  # fmt: skip
        return engine_call(
            self.name,
            lambda: pipeline.fit(rows if lightgbm else rows.coalesce(self.partitions)),
            self.data.features,
            self.data.problem.target,
        )

    def fold(self, trial: Trial, fold: int) -> float:
        model = self._fit(trial, self.pooled.where(F.col(FOLD_COLUMN) != fold))
        held_out = self.pooled.where(F.col(FOLD_COLUMN) == fold)
        judge = self.judge if self.keep is None else lambda m, rows: self._kept_scores(trial, fold, m, rows)
        return engine_call(
            self.name, lambda: judge(model, held_out), self.data.features, self.data.problem.target
        )

    def _kept_scores(self, trial: Trial, fold: int, model: Any, held_out: DataFrame) -> float:
        scorer, metric = self.keep  # type: ignore[misc]
        task = self.data.problem.task
        frame = score(model, held_out, task, [LABEL_COLUMN, ROW_COLUMN], scorer).toPandas()
        frame = frame.sort_values(ROW_COLUMN, kind="stable")  # equal hashes: equal rows, equal scores
        labels, scores = frame[LABEL_COLUMN].to_numpy(float), frame["score"].to_numpy(float)
        self.scores[trial.index, fold] = (labels, scores)
        return driver_metric(labels, scores, metric)

    def held_out_scores(self) -> dict[int, list[tuple[Any, Any]]]:
        """Trial index -> per fold, the held-out labels and scores, for the trials whose every fold
        was scored."""
        trials = {index for index, _ in self.scores}
        return {
            index: [self.scores[index, fold] for fold in range(self.folds)]
            for index in sorted(trials)
            if all((index, fold) in self.scores for fold in range(self.folds))
        }

    def refit(self, trial: Trial) -> Any:
        return self._fit(trial, self.pooled)

"""Train a model of models.yml: prepare, check, search, evaluate, register, promote.

The steps, each a function of this module:

1. :func:`~lakehouse.models.training_data.training_data` reads the tables at pinned Delta
   versions (recorded with the model) and gives the labelled, split rows;
2. :func:`check_training_data` counts them per split before any fit: no split may be empty, no
   row may fall outside the splits, and no more than ``max_missing_share`` of a split's label rows
   may lack a feature row;
3. :func:`search` fits one pipeline per trial on the training rows and keeps the trial best on
   validation: SynapseML LightGBM over a random or grid search (early stopping on the validation
   rows), or, with ``strategy: automl``, the learner and parameters that
   :mod:`lakehouse.models.automl` chooses within the time budget; each trial is a child run of
   the model's MLflow run. With a small validation split, AutoML's top trials are confirmed on
   folds of the training and validation rows (:mod:`lakehouse.models.cross_validation`), and the
   kept configuration is fitted again on those rows together; when a weighted average of up to
   three confirmed trials beats the best alone on the folds' held-out rows, that average
   (:mod:`lakehouse.models.learners.ensemble`) is the kept model, a trial of its own;
4. :func:`evaluate` picks the threshold on validation (binary) and judges the kept model once on
   the test rows (the refit, when there is one);
5. :func:`register_and_promote` registers the version with its label mapping and promotes it when
   it beats production; the report is written last.

Any error of Spark ML or LightGBM on the way is a :class:`~lakehouse.errors.ModelTrainingError`
that names the model and, where the engine names one, the column.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from py4j.protocol import Py4JError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.config.model import LOWER_IS_BETTER, METRICS_OF_TASK, MULTICLASS_METRICS, ModelSettings
from lakehouse.errors import ModelError, ModelTrainingError, TrainingDataError
from lakehouse.io import files
from lakehouse.models import cross_validation
from lakehouse.models.automl import Proposal, as_ranges, loss_of, run_automl
from lakehouse.models.dataset import SPLIT_COLUMN, SPLITS
from lakehouse.models.evaluation import (
    DRIVER_METRICS,
    best_f1_threshold,
    driver_metric,
    evaluate_classifier,
    evaluate_multiclass,
    evaluate_regressor,
    score_bins,
)
from lakehouse.models.learners import ENSEMBLE, FeatureSet, averaged, learner_named, learner_of
from lakehouse.models.problem import LABEL_COLUMN, Problem
from lakehouse.models.registry import ModelRegistry, ModelVersion, PromotionDecision, decide_promotion
from lakehouse.models.report import render_training_report
from lakehouse.models.scoring import score
from lakehouse.models.search import run_trials, trial_params, trials_at_once
from lakehouse.models.training_data import TrainingData, training_data
from lakehouse.runs.context import JobContext

log = logging.getLogger(__name__)
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


@dataclass
class SplitCounts:
    """Rows per split, and per feature table the rows of each split without a feature row."""

    rows: dict[str, int]
    missing: dict[str, dict[str, int]]
    outside: int  # rows in no split (an unknown fold value, no time)
    classes: dict[str, dict[int, int]] = field(default_factory=dict)  # split -> class number -> rows


@dataclass
class Evaluation:
    """The kept model judged on validation and test."""

    threshold: float | None
    validation: dict[str, float]
    test: dict[str, float]
    details: dict[str, Any]  # curves and confusion matrix for the report


@dataclass
class TrainingResult:
    """What one ``train_model`` of a model did: the version, its metrics, the search, the split,
    the promotion decision, the report's path and the notes on the data."""

    model: str
    version: ModelVersion
    metric: str
    test: dict[str, float]
    validation: dict[str, float]
    trials: list[Trial]
    best_trial: int
    split: dict[str, str]
    rows: dict[str, int]
    promotion: PromotionDecision
    report: str
    notes: list[str] = field(default_factory=list)
    search_seconds: float = 0.0

    @property
    def learner(self) -> str:
        """The learner of the kept model."""
        return self.trials[self.best_trial].learner


def executor_cores(spark) -> int:
    """Cores of one executor: ``spark.executor.cores`` when set, else the default parallelism
    (all cores of ``local[*]``, or of a standalone cluster's single executor)."""
    configured = spark.conf.get("spark.executor.cores", None)
    return int(configured) if configured else max(1, spark.sparkContext.defaultParallelism)


def count_splits(data: TrainingData) -> SplitCounts:
    """Rows per split (and per class, for a classification) and rows without a feature row per
    table and split, in one aggregate."""
    missing = {
        table: F.sum(F.when(F.col(f"`{column}`").isNull(), 1).otherwise(0)).alias(f"_missing_{index}")
        for index, (table, column) in enumerate(data.as_of_columns.items())
    }
    by_class = data.problem.kind != "regression"
    groups = [SPLIT_COLUMN, *([LABEL_COLUMN] if by_class else [])]
    found = data.rows.groupBy(*groups).agg(F.count(F.lit(1)).alias("_rows"), *missing.values()).collect()
    rows = dict.fromkeys(SPLITS, 0)
    by_table: dict[str, dict[str, int]] = {table: dict.fromkeys(SPLITS, 0) for table in missing}
    classes: dict[str, dict[int, int]] = {split: {} for split in SPLITS} if by_class else {}
    outside = 0
    for row in found:
        split = row[SPLIT_COLUMN]
        if split is None:
            outside += int(row["_rows"])
            continue
        rows[split] += int(row["_rows"])
        if by_class:
            classes[split][int(row[LABEL_COLUMN])] = int(row["_rows"])
        for index, table in enumerate(missing):
            by_table[table][split] += int(row[f"_missing_{index}"] or 0)
    return SplitCounts(rows, by_table, outside, classes)


def check_training_data(name: str, settings: ModelSettings, data: TrainingData, counts: SplitCounts) -> None:
    """Refuse training rows that would make a meaningless model, before any fit.

    Raises:
        TrainingDataError: rows outside every split, an empty split, a class without training
            rows, or a split whose share of
            label rows without a feature row exceeds ``max_missing_share`` (naming the feature
            table and the label dates to backfill).
    """
    key = f"models.models.{name}"
    if counts.outside:
        column = data.split.get("column", "")
        if data.split["method"] == "column":
            values = [
                str(row[0])
                for row in data.rows.where(F.col(SPLIT_COLUMN).isNull())
                .select("_split_source")
                .distinct()
                .limit(5)
                .collect()
            ]
            raise TrainingDataError(
                f"{key}.split.column: {counts.outside} rows of {column!r} are not train, validation or test "
                f"(values such as {values})"
            )
        raise TrainingDataError(
            f"{key}.split.column: {counts.outside} rows have no {column!r}; fill it or drop them"
        )
    empty = [split for split, count in counts.rows.items() if count == 0]
    if empty:
        raise TrainingDataError(
            f"model {name}: the {', '.join(empty)} split has no labelled rows ({counts.rows}); "
            "label more rows or change split"
        )
    if counts.classes:
        absent = [c for i, c in enumerate(data.problem.classes) if not counts.classes["train"].get(i)]
        if absent:
            totals = {
                data.problem.classes[i]: sum(by_split.get(i, 0) for by_split in counts.classes.values())
                for i in range(len(data.problem.classes))
            }
            raise TrainingDataError(
                f"model {name}: the classes {absent} of {data.problem.target!r} have no row in the train "
                f"split (rows per class: {totals}); a model cannot learn a class it never sees: use "
                f"{key}.split.method stratified, or label more rows of those classes"
            )
    for table, by_split in counts.missing.items():
        for split, missing in by_split.items():
            share = missing / counts.rows[split]
            if share > settings.max_missing_share:
                raise TrainingDataError(
                    f"model {name}: {missing} of {counts.rows[split]} {split} rows ({share:.1%}) have no "
                    f"row of {table} as of their label time (max_missing_share "
                    f"{settings.max_missing_share}); backfill "
                    f"{table} for {_missing_dates(data, table)} (`lakehouse run gold_features --param "
                    f"table={table.split('.')[-1]} --param start=... --param end=...`) or raise "
                    f"{key}.max_missing_share"
                )


def _missing_dates(data: TrainingData, table: str) -> str:
    """The label dates whose rows lack a feature row of ``table``, as a short list."""
    column = data.as_of_columns[table]
    dates = [
        row[0]
        for row in data.rows.where(F.col(f"`{column}`").isNull())
        .select(F.to_date(F.col(f"`{data.time_column}`")).alias("date"))
        .distinct()
        .orderBy("date")
        .collect()
    ]
    shown = ", ".join(str(date) for date in dates[:10])
    return f"the label dates {shown}{f' and {len(dates) - 10} more' if len(dates) > 10 else ''}"


def _better(metric: str, a: float, b: float) -> bool:
    if math.isnan(b):
        return not math.isnan(a)
    return a < b if metric in LOWER_IS_BETTER else a > b


def _scored(model: Any, rows: DataFrame, problem: Problem, settings: ModelSettings) -> DataFrame:
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


def selection_metric(name: str, settings: ModelSettings, problem: Problem) -> str:
    """The metric that picks the trial and decides promotion, checked against the problem.

    Raises:
        ModelError: a metric of another kind (ROC AUC of a multiclass or regression model...).
    """
    metric = settings.selection_metric(problem.kind)
    allowed = MULTICLASS_METRICS if problem.kind == "multiclass" else METRICS_OF_TASK[problem.task]
    if metric not in allowed:
        raise ModelError(
            f"models.models.{name}.metric: {metric} does not fit a {problem.kind} model of "
            f"{problem.target!r}; use one of {', '.join(allowed)}"
        )
    return metric


def _learner_params(settings: ModelSettings, problem: Problem, name: str) -> dict[str, Any]:
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


def search(
    context: JobContext,
    name: str,
    settings: ModelSettings,
    data: TrainingData,
    metric: str,
    on_trial: Any = None,
    rows: dict[str, int] | None = None,
) -> tuple[list[Trial], Trial, dict[str, Any]]:
    """Fit each trial of the search on the training rows and keep the best on validation.

    Args:
        on_trial: called with each finished :class:`Trial` (from the thread that fitted it).
        rows: the rows per split (of :func:`count_splits`): the training rows size the search
            spaces and partitions; up to ``DRIVER_ROWS`` validation rows, a trial's metric is
            computed from its collected scores (one Spark job instead of several).

    Returns:
        The trials, the best one, and the fitting facts (threads, trials at once, seconds).
    """
    search_settings = settings.search
    automl = search_settings is not None and search_settings.strategy == "automl"
    learners = search_settings.learner_names if automl else ["lightgbm"]  # type: ignore[union-attr]
    features = _engine_call(name, lambda: feature_set(data, learners), data.features, data.problem.target)
    train_count = (rows or {}).get("train") or data.rows.where(F.col(SPLIT_COLUMN) == "train").count()
    lightgbm_rows = data.rows.where(
        F.col(SPLIT_COLUMN).isin(["train", "validation"] if settings.early_stopping_rounds > 0 else ["train"])
    )
    cores = executor_cores(context.spark)
    # Spark ML's learners run a job per iteration or tree level: small data in few partitions
    train_rows = data.rows.where(F.col(SPLIT_COLUMN) == "train")
    partitions = max(1, min(cores, math.ceil(train_count / ROWS_PER_PARTITION)))
    train_rows = train_rows.coalesce(partitions)
    validation = data.rows.where(F.col(SPLIT_COLUMN) == "validation")
    threads = cores if settings.threads == "auto" else settings.threads
    base = _learner_params(settings, data.problem, name)
    max_trials = search_settings.max_trials if search_settings else 1
    candidates = [] if automl else trial_params(search_settings, base)
    at_once = trials_at_once(
        search_settings.parallelism if search_settings else 1,
        cores,
        1 if automl else threads,  # most automl trials are short: their Spark jobs wait more than compute
        max_trials or 10**6 if automl else len(candidates),
    )
    if at_once > 1:  # share the cores between the fits running together
        threads = max(1, cores // at_once)
    searched_names = list(search_settings.space) if search_settings else []
    started_at = time.monotonic()
    planned = "?" if automl else str(len(candidates))
    on_driver = (
        data.problem.kind != "multiclass"
        and metric in DRIVER_METRICS
        and rows is not None
        and rows["validation"] <= DRIVER_ROWS
    )
    folds = (
        cross_validation.folds_for(search_settings.folds, rows["validation"] if rows else DRIVER_ROWS)  # type: ignore[union-attr]
        if automl
        else 0
    )

    def judge(model: Any, held_out: DataFrame) -> float:
        scored = _scored(model, held_out, data.problem, settings)
        if on_driver:
            frame = scored.select(LABEL_COLUMN, SCORE).toPandas()
            return driver_metric(frame[LABEL_COLUMN], frame[SCORE], metric)
        return split_metrics(scored, data.problem, 0.5)[0][metric]

    def fit(proposal: Proposal) -> Trial:
        trial_started = time.monotonic()
        try:
            return _engine_call(name, lambda: fit_trial(proposal), data.features, data.problem.target)
        except ModelTrainingError as error:
            if on_trial is not None:  # tracked too: a failed configuration is part of the search
                seconds = round(time.monotonic() - trial_started, 2)
                started = round(trial_started - started_at, 2)
                failed = Trial(
                    proposal.index, proposal.params, proposal.searched, math.nan, None, seconds, None,
                    proposal.learner, started, str(error),
                )  # fmt: skip
                on_trial(failed)
            raise

    def fit_trial(proposal: Proposal) -> Trial:
        trial_started = time.monotonic()
        learner = learner_named(proposal.learner)
        lightgbm = learner.name == "lightgbm"
        pipeline = learner.pipeline(
            data.problem.task,
            features,
            LABEL_COLUMN,
            proposal.params,
            threads if lightgbm else None,
            VALIDATION_FLAG,
            settings.early_stopping_rounds,
            key=f"models.models.{name}.params" if lightgbm else f"models.models.{name}.search.learners",
        )
        model = pipeline.fit(lightgbm_rows if lightgbm else train_rows)
        value = judge(model, validation)
        trial = Trial(
            proposal.index,
            proposal.params,
            proposal.searched,
            value,
            learner.best_iteration(model),
            round(time.monotonic() - trial_started, 2),
            model,
            learner.name,
            round(trial_started - started_at, 2),
        )
        context.log.info(
            "model %s: trial %d/%s %s %s -> validation %s %.4f (%.1f s)",
            name, proposal.index + 1, planned, learner.name, trial.searched, metric, trial.metric,
            trial.seconds,
        )  # fmt: skip
        if on_trial is not None:
            on_trial(trial)
        return trial

    if automl:
        spaces = {
            learner: (
                learner_named(learner).relative_cost,
                learner_named(learner).narrowed_space(
                    search_settings.narrowing(learner),  # type: ignore[union-attr]
                    key=f"models.models.{name}.search.learners.{learner}",
                    task=data.problem.task,
                    train_rows=train_count,
                ),
                base if learner == "lightgbm" else {},
            )
            for learner in learners
        }
        context.log.info(
            "model %s: automl over %s for %.0f s, %d trials at once; spaces %s",
            name, ", ".join(learners), search_settings.budget_seconds, at_once,  # type: ignore[union-attr]
            {learner: as_ranges(space) for learner, (_, space, _) in spaces.items()},
        )  # fmt: skip
        budget: float = search_settings.budget_seconds  # type: ignore[union-attr,assignment]

        def reserve(done: Sequence[Trial]) -> float:  # the time the confirmation will need
            needed = cross_validation.seconds_needed(done, metric, folds, at_once)
            return min(cross_validation.MOST_OF_BUDGET * budget, needed)

        trials, seconds = run_automl(
            spaces,
            fit,
            metric,
            budget,
            at_once,
            search_settings.seed,  # type: ignore[union-attr]
            max_trials,
            reserve=reserve if folds else None,
        )
    else:

        def fit_params(index: int, params: dict[str, Any]) -> Trial:
            searched = {k: params[k] for k in searched_names}
            return fit(Proposal(index, "lightgbm", params, searched, 0.0))

        budget = search_settings.budget_seconds if search_settings else None
        trials = run_trials(fit_params, candidates, at_once, budget)
        seconds = time.monotonic() - started_at
    best = trials[0]
    for trial in trials[1:]:
        if _better(metric, trial.metric, best.metric):
            best = trial
    confirmed = 0
    if folds:
        left = budget - (time.monotonic() - started_at)
        top = cross_validation.candidates(trials, metric, folds, left, at_once, slack=0.1 * budget)
        if top:
            averaging = on_driver and search_settings.ensemble  # type: ignore[union-attr]
            pooled = _PooledFits(
                name, data, features, threads, partitions, folds, judge,
                (settings.scorer, metric) if averaging else None,
            )  # fmt: skip
            context.log.info(
                "model %s: %d-fold cross-validation on the training and validation rows of trials %s "
                "(the first two, then the others while the budget lasts)",
                name, folds, [t.index for t in top],
            )  # fmt: skip
            means = cross_validation.cross_validate(
                top, folds, at_once, pooled.fold,
                seconds_left=budget - (time.monotonic() - started_at),
                estimates=cross_validation.fold_seconds(trials),
            )  # fmt: skip
            for trial in top:
                trial.cross_validated = means.get(trial.index)
            best = cross_validation.confirmed_best(top, means, metric) or best  # type: ignore[assignment]
            confirmed = len(means)
            context.log.info(
                "model %s: %d trials confirmed; kept trial %d (%s), k-fold %s %s",
                name, confirmed, best.index, best.learner, metric, best.cross_validated,
            )  # fmt: skip
            if search_settings.refit:  # type: ignore[union-attr]
                # the validation rows no longer choose alone: they train the kept configuration
                context.log.info("model %s: trial %d fitted again on the training and validation rows",
                                 name, best.index)  # fmt: skip
                best.refitted = pooled.refit(best)
            if averaging:
                ensemble = _average_of_trials(
                    name, data, trials, pooled, judge, validation, metric, at_once,
                    search_settings.refit, started_at,  # type: ignore[union-attr]
                )  # fmt: skip
                if ensemble is not None:
                    context.log.info(
                        "model %s: kept the average of trials %s, k-fold %s %s (the best alone: %s)",
                        name, ensemble.searched["members"], metric, ensemble.cross_validated,
                        best.cross_validated,
                    )  # fmt: skip
                    if on_trial is not None:
                        on_trial(ensemble)
                    trials.append(ensemble)
                    best = ensemble
        else:
            context.log.info("model %s: no time left to cross-validate (%.0f s)", name, left)
        seconds = time.monotonic() - started_at
    facts = {"threads": threads, "trials_at_once": at_once, "search_seconds": round(seconds, 1)}
    if folds:
        facts |= {
            "folds": folds,
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
    value = _engine_call(name, lambda: judge(model, validation), data.features, data.problem.target)
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
        return _engine_call(
            self.name,
            lambda: pipeline.fit(rows if lightgbm else rows.coalesce(self.partitions)),
            self.data.features,
            self.data.problem.target,
        )

    def fold(self, trial: Trial, fold: int) -> float:
        model = self._fit(trial, self.pooled.where(F.col(FOLD_COLUMN) != fold))
        held_out = self.pooled.where(F.col(FOLD_COLUMN) == fold)
        judge = self.judge if self.keep is None else lambda m, rows: self._kept_scores(trial, fold, m, rows)
        return _engine_call(
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


def evaluate(
    name: str, settings: ModelSettings, data: TrainingData, model: Any, kept: Any = None
) -> Evaluation:
    """The threshold (binary: best F1 on validation, or the configured one) and the metrics on
    validation of ``model`` (fitted on the training rows), and on test of ``kept`` (the model
    registered: ``model``, or its refit on the training and validation rows)."""
    problem = data.problem
    validation = data.rows.where(F.col(SPLIT_COLUMN) == "validation")
    test = data.rows.where(F.col(SPLIT_COLUMN) == "test")

    def run() -> Evaluation:
        validation_scored = _scored(model, validation, problem, settings)
        threshold: float | None = None
        if problem.kind == "binary":
            threshold = (
                best_f1_threshold(score_bins(validation_scored, LABEL_COLUMN, SCORE, 0.5))
                if settings.threshold == "max_f1"
                else float(settings.threshold)
            )
        validation_metrics, _ = split_metrics(validation_scored, problem, threshold)
        test_scored = _scored(model if kept is None else kept, test, problem, settings)
        test_metrics, report = split_metrics(test_scored, problem, threshold)
        details: dict[str, Any] = {}
        if problem.kind == "binary":
            details = {
                "confusion": report.confusion,
                "roc": report.roc,
                "pr": report.pr,
                "calibration": report.calibration,
            }
        elif problem.kind == "multiclass":
            details = {"class_confusion": report.confusion, "per_class": report.per_class}
        return Evaluation(threshold, validation_metrics, test_metrics, details)

    return _engine_call(name, run, data.features, data.problem.target)


# Errors of the engine (the JVM through py4j, pyspark's own): anything else is a bug of ours and
# keeps its traceback
ENGINE_ERRORS = (Py4JError, PySparkException)


def _engine_call(name: str, action, columns: Sequence[str] = (), target: str | None = None):
    """Run a Spark ML / LightGBM step; turn an engine error into a ModelTrainingError that names
    the model, the column the engine names (``columns``, the target) and the root cause's first
    line, never the JVM's stack trace (logged at debug level)."""
    try:
        return action()
    except ENGINE_ERRORS as error:
        log.debug("model %s: the engine failed", name, exc_info=True)
        raise ModelTrainingError(_describe_engine_error(name, error, columns, target)) from None


def _root_message(error: Exception) -> str:
    """The first line of the innermost Java cause (what failed), else of the error itself."""
    java = getattr(error, "java_exception", None) or getattr(error, "_origin", None)
    text = ""
    try:
        while java is not None:
            text = str(java.toString())
            java = java.getCause()
    except Exception:  # the JVM is gone: keep what was read
        pass
    text = text or getattr(error, "desc", None) or str(error)
    return next((line.strip() for line in str(text).splitlines() if line.strip()), type(error).__name__)


def _describe_engine_error(name: str, error: Exception, columns: Sequence[str], target: str | None) -> str:
    first = _root_message(error)
    named = [
        c
        for c in [*columns, *([target] if target else [])]
        if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", first)
    ]
    if not named and target and re.search(rf"(?<!\w){LABEL_COLUMN}(?!\w)", first):
        named = [target]  # the learner's label is the target
    column = f" (column {named[0]})" if named else ""
    return f"model {name}: training failed{column}: {first[:500]}"


def register_and_promote(
    registry: ModelRegistry,
    name: str,
    settings: ModelSettings,
    data: TrainingData,
    best: Trial,
    trials: Sequence[Trial],
    evaluation: Evaluation,
    counts: SplitCounts,
    fitting: dict[str, Any],
    metric: str,
    run_id: str | None = None,
) -> tuple[ModelVersion, PromotionDecision, dict[str, Any]]:
    """Register the kept model (parameters, metrics, features, label mapping, data versions) and
    promote it when its test metric beats production's by the margin.

    Returns:
        The version, the promotion decision and the parameters recorded.
    """
    learner = learner_named(best.learner)
    features = FeatureSet(data.features, data.categorical, data.string_features)
    fitted_on = "the training and validation rows" if best.refitted is not None else "the training rows"
    preparation = learner.preparation(features, fitted_on)
    if best.members:  # each member learner's own, by learner
        by_index = {t.index: t for t in trials}
        for member in dict.fromkeys(by_index[index].learner for index in best.members):
            own = learner_named(member).preparation(features, fitted_on)
            preparation |= {f"{member} {key}": value for key, value in own.items()}
    params = {
        "learner": learner.name,
        **best.params,
        **fitting,
        **{f"preparation_{key.replace(' ', '_')}": value for key, value in preparation.items()},
        "search_strategy": settings.search.strategy if settings.search else "none",
        "trials": len(trials),
        "early_stopping_rounds": settings.early_stopping_rounds,
        "best_iteration": best.best_iteration,
        "threshold": evaluation.threshold,
        "categorical": ",".join(data.categorical),
        **{f"split_{key}": value for key, value in data.split.items()},
    }
    metrics = {f"test_{k}": v for k, v in evaluation.test.items()}
    metrics |= {f"validation_{k}": v for k, v in evaluation.validation.items()}
    metrics |= {f"{s}_rows": float(n) for s, n in counts.rows.items()}
    tags = {
        "task": data.problem.task,
        "metric": metric,
        "labels": settings.source,
        "learner": learner.name,
        **data.problem.as_tags(),
    }
    version = registry.register(
        name, best.kept_model, params, metrics, data.features, data.data_versions, tags=tags, run_id=run_id
    )
    production = registry.production(name)
    production_metric = None if production is None else production.metrics.get(f"test_{metric}")
    decision = decide_promotion(
        metric, evaluation.test.get(metric, math.nan), production_metric, settings.promotion.margin
    )
    if not settings.promotion.auto:
        decision = PromotionDecision(False, "automatic promotion is off (promotion.auto: false)")
    if decision.promote:
        version = registry.promote(name, version.version, decision.reason)
    return version, decision, params


def _search_facts(
    settings: ModelSettings, fitting: dict[str, Any], trials: Sequence[Trial]
) -> dict[str, Any]:
    search_settings = settings.search
    return {
        "strategy": search_settings.strategy if search_settings else "none",
        "budget_seconds": search_settings.budget_seconds if search_settings else None,
        "seconds": fitting["search_seconds"],
        "trials_at_once": fitting["trials_at_once"],
        "learners": sorted({t.learner for t in trials}),
        "folds": fitting.get("folds", 0),
        "refitted": fitting.get("refitted", False),
        "averaged_trials": fitting.get("averaged_trials", 0),
    }


def train_model(
    context: JobContext, name: str, settings: ModelSettings, registry: ModelRegistry
) -> TrainingResult:
    """Train, evaluate, register and (when it wins) promote one model; see the module docstring.

    Raises:
        TableNotFoundError: the table, the labels or a feature table is not built.
        TrainingDataError: an empty split, rows outside the splits, too many rows without features.
        ModelTrainingError: Spark ML or LightGBM failed (names the column when it can).
        ModelError: the target cannot be learned, a column leaks it, an unknown LightGBM
            parameter, or a string feature of a model of labels not declared categorical.
    """
    started = time.monotonic()
    data = _engine_call(
        name, lambda: training_data(context.tables, context.config, name, settings), target=settings.target
    )
    for note in data.notes:
        context.log.info("model %s: %s", name, note)
    metric = selection_metric(name, settings, data.problem)
    data.rows = data.rows.withColumn(VALIDATION_FLAG, F.col(SPLIT_COLUMN) == "validation").persist()
    run_id = registry.open_run(name)
    epoch_offset = time.time() - time.monotonic()

    trial_runs: dict[int, str] = {}

    def log_trial(trial: Trial) -> None:
        record = {**vars(trial), "started_epoch": epoch_offset + time.monotonic() - trial.seconds}
        trial_runs[trial.index] = registry.log_trial(run_id, name, record, metric)

    try:
        try:
            counts = _engine_call(name, lambda: count_splits(data), data.features, data.problem.target)
            check_training_data(name, settings, data, counts)
            context.log.info(
                "model %s: %s %s, %d features, rows by split %s; without feature rows %s",
                name, data.problem.kind, settings.target, len(data.features), counts.rows,
                counts.missing or "n/a",
            )  # fmt: skip
            trials, best, fitting = search(context, name, settings, data, metric, log_trial, counts.rows)
            for trial in trials:
                held_out = trial.cross_validated
                if held_out is not None and not math.isnan(held_out) and trial.index in trial_runs:
                    registry.log_trial_metrics(trial_runs[trial.index], {f"cv_{metric}": held_out})
            evaluation = evaluate(name, settings, data, best.model, best.kept_model)
        finally:
            data.rows.unpersist()
        version, decision, params = register_and_promote(
            registry, name, settings, data, best, trials, evaluation, counts, fitting, metric, run_id
        )
    except BaseException:
        registry.close_run(run_id, failed=True)
        raise
    document = render_training_report(
        {
            "model": name,
            "version": version.version,
            "task": data.problem.kind,
            "metric": metric,
            "test": evaluation.test,
            "validation": evaluation.validation,
            **evaluation.details,
            "classes": list(data.problem.classes),
            "importance": learner_of(best.kept_model).importances(best.kept_model, data.features),
            "trials": [vars(t) for t in trials],
            "best_trial": trials.index(best),
            "search": _search_facts(settings, fitting, trials),
            "lower_is_better": metric in LOWER_IS_BETTER,
            "params": {k: v for k, v in params.items() if v is not None},
            "split": {**data.split, **{f"{s} rows": n for s, n in counts.rows.items()}},
            "missing": counts.missing,
            "notes": data.notes,
            "data_versions": data.data_versions,
            "promotion": ("promoted to production: " if decision.promote else "not promoted: ")
            + decision.reason,
        }
    )
    registry.log_text(version, document, "training_report.html")
    location = context.layout.files_location("reports", "models", f"{name}-v{version.version}.html")
    report = str(files.write_text(context.spark, location, document))
    context.log.info(
        "model %s v%d trained in %.0f s; report %s", name, version.version, time.monotonic() - started, report
    )
    return TrainingResult(
        name,
        version,
        metric,
        evaluation.test,
        evaluation.validation,
        trials,
        trials.index(best),
        data.split,
        counts.rows,
        decision,
        report,
        data.notes,
        fitting["search_seconds"],
    )

"""Train a model of models.yml: prepare, check, search, evaluate, register, promote, report.

The steps, each a function:

1. :func:`prepare_training_data` reads the tables at pinned Delta versions (recorded with the
   model, :func:`~lakehouse.models.training_data.training_data`) and gives the labelled, split rows;
2. :func:`checked_splits` counts them per split before any fit (:func:`check_training_data`): no
   split may be empty, no row may fall outside the splits, and no more than ``max_missing_share``
   of a split's label rows may lack a feature row;
3. :func:`lakehouse.models.fitting.search` fits one pipeline per trial on the training rows and
   keeps the trial best on validation (a random or grid search over LightGBM, or AutoML); each
   trial is a child run of the model's MLflow run;
4. :func:`evaluate_splits` picks the threshold on validation (binary) and judges the kept model
   once on the test rows (the refit, when there is one);
5. :func:`register_and_promote` registers the version with its label mapping and promotes it when
   it beats production;
6. :func:`training_report` gathers what the steps gave into a :class:`TrainingReport`, which
   :func:`write_report` attaches to the version and writes under ``files/reports/models``.

Any error of Spark ML or LightGBM on the way is a :class:`~lakehouse.errors.ModelTrainingError`
that names the model and, where the engine names one, the column (:mod:`lakehouse.models.engine`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse.config.model import LakehouseConfig
from lakehouse.config.models import LOWER_IS_BETTER, METRICS_OF_TASK, MULTICLASS_METRICS, ModelSettings
from lakehouse.errors import ModelError, TrainingDataError
from lakehouse.io import files
from lakehouse.io.delta_store import DeltaStore
from lakehouse.models.dataset import SPLIT_COLUMN, SPLITS
from lakehouse.models.engine import engine_call
from lakehouse.models.evaluation import best_f1_threshold, score_bins
from lakehouse.models.fitting import (
    SCORE,
    VALIDATION_FLAG,
    Trial,
    TrialSearch,
    executor_cores,
    scored_split,
    search,
    split_metrics,
)
from lakehouse.models.learners import FeatureSet, learner_named, learner_of
from lakehouse.models.problem import LABEL_COLUMN, Problem
from lakehouse.models.registry import ModelRegistry, ModelVersion, PromotionDecision, decide_promotion
from lakehouse.models.report import render_training_report
from lakehouse.models.training_data import TrainingData, training_data
from lakehouse.storage.layout import StorageLayout

log = logging.getLogger(__name__)


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


def evaluate_splits(
    name: str, settings: ModelSettings, data: TrainingData, model: Any, kept: Any = None
) -> Evaluation:
    """The threshold (binary: best F1 on validation, or the configured one) and the metrics on
    validation of ``model`` (fitted on the training rows), and on test of ``kept`` (the model
    registered: ``model``, or its refit on the training and validation rows)."""
    problem = data.problem
    validation = data.rows.where(F.col(SPLIT_COLUMN) == "validation")
    test = data.rows.where(F.col(SPLIT_COLUMN) == "test")

    def run() -> Evaluation:
        validation_scored = scored_split(model, validation, problem, settings)
        threshold: float | None = None
        if problem.kind == "binary":
            threshold = (
                best_f1_threshold(score_bins(validation_scored, LABEL_COLUMN, SCORE, 0.5))
                if settings.threshold == "max_f1"
                else float(settings.threshold)
            )
        validation_metrics, _ = split_metrics(validation_scored, problem, threshold)
        test_scored = scored_split(model if kept is None else kept, test, problem, settings)
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

    return engine_call(name, run, data.features, data.problem.target)


def _preparation(data: TrainingData, best: Trial, trials: Sequence[Trial]) -> dict[str, Any]:
    """How the kept model prepares its features (an average's members: each learner's own)."""
    features = FeatureSet(data.features, data.categorical, data.string_features)
    fitted_on = "the training and validation rows" if best.refitted is not None else "the training rows"
    preparation = learner_named(best.learner).preparation(features, fitted_on)
    if best.members:  # each member learner's own, by learner
        by_index = {t.index: t for t in trials}
        for member in dict.fromkeys(by_index[index].learner for index in best.members):
            own = learner_named(member).preparation(features, fitted_on)
            preparation |= {f"{member} {key}": value for key, value in own.items()}
    return preparation


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
    preparation = _preparation(data, best, trials)
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


@dataclass
class TrainingReport:
    """What the training report of one registered version shows (rendered by
    :func:`lakehouse.models.report.render_training_report`)."""

    model: str
    version: int
    task: str  # the problem's kind: binary, multiclass or regression
    metric: str
    lower_is_better: bool
    test: dict[str, float]
    validation: dict[str, float]
    details: dict[str, Any]  # curves and confusion matrices of the test split
    classes: list[Any]
    importance: Any
    trials: list[dict[str, Any]]
    best_trial: int
    search: dict[str, Any]
    params: dict[str, Any]
    split: dict[str, Any]
    missing: dict[str, dict[str, int]]
    notes: list[str]
    data_versions: dict[str, int]
    promotion: str

    def render(self) -> str:
        """The report as one HTML document."""
        facts = {key: value for key, value in vars(self).items() if key != "details"}
        return render_training_report({**facts, **self.details})


def training_report(
    name: str,
    settings: ModelSettings,
    data: TrainingData,
    counts: SplitCounts,
    outcome: SearchOutcome,
    evaluation: Evaluation,
    version: ModelVersion,
    decision: PromotionDecision,
    params: dict[str, Any],
) -> TrainingReport:
    """The report of a registered version, from what each step of its training gave."""
    trials, best = outcome.trials, outcome.best
    return TrainingReport(
        model=name,
        version=version.version,
        task=data.problem.kind,
        metric=outcome.metric,
        lower_is_better=outcome.metric in LOWER_IS_BETTER,
        test=evaluation.test,
        validation=evaluation.validation,
        details=evaluation.details,
        classes=list(data.problem.classes),
        importance=learner_of(best.kept_model).importances(best.kept_model, data.features),
        trials=[vars(t) for t in trials],
        best_trial=trials.index(best),
        search=_search_facts(settings, outcome.facts, trials),
        params={k: v for k, v in params.items() if v is not None},
        split={**data.split, **{f"{s} rows": n for s, n in counts.rows.items()}},
        missing=counts.missing,
        notes=data.notes,
        data_versions=data.data_versions,
        promotion=("promoted to production: " if decision.promote else "not promoted: ") + decision.reason,
    )


def write_report(
    spark: SparkSession,
    layout: StorageLayout,
    registry: ModelRegistry,
    version: ModelVersion,
    report: TrainingReport,
) -> str:
    """Attach the report to the version in the registry and write it under ``files/reports/models``;
    its location."""
    document = report.render()
    registry.attach_report(version, document)
    location = layout.files_location("reports", "models", f"{report.model}-v{version.version}.html")
    return str(files.write_text(spark, location, document))


@dataclass
class SearchOutcome:
    """What a model's search gave: every trial, the kept one, the selection metric, the facts."""

    trials: list[Trial]
    best: Trial
    metric: str
    facts: dict[str, Any]


class _TrialTracker:
    """Each trial as a child run of the model's MLflow run, as it finishes."""

    def __init__(self, registry: ModelRegistry, run_id: str, name: str, metric: str):
        self.registry, self.run_id, self.name, self.metric = registry, run_id, name, metric
        self.runs: dict[int, str] = {}
        self.epoch_offset = time.time() - time.monotonic()

    def log_trial(self, trial: Trial) -> None:
        record = {**vars(trial), "started_epoch": self.epoch_offset + time.monotonic() - trial.seconds}
        self.runs[trial.index] = self.registry.log_trial(self.run_id, self.name, record, self.metric)

    def log_cross_validation(self, trials: Sequence[Trial]) -> None:
        for trial in trials:
            held_out = trial.cross_validated
            if held_out is not None and not math.isnan(held_out) and trial.index in self.runs:
                self.registry.log_trial_metrics(self.runs[trial.index], {f"cv_{self.metric}": held_out})


def prepare_training_data(
    tables: DeltaStore, config: LakehouseConfig, name: str, settings: ModelSettings
) -> TrainingData:
    """The model's labelled, split rows (persisted: every step reads them; unpersist them after)."""
    data = engine_call(name, lambda: training_data(tables, config, name, settings), target=settings.target)
    for note in data.notes:
        log.info("model %s: %s", name, note)
    data.rows = data.rows.withColumn(VALIDATION_FLAG, F.col(SPLIT_COLUMN) == "validation").persist()
    return data


def checked_splits(
    name: str, settings: ModelSettings, data: TrainingData, log: logging.Logger
) -> SplitCounts:
    """The rows per split, refused when they would make a meaningless model (:func:`check_training_data`)."""
    counts = engine_call(name, lambda: count_splits(data), data.features, data.problem.target)
    check_training_data(name, settings, data, counts)
    log.info(
        "model %s: %s %s, %d features, rows by split %s; without feature rows %s",
        name, data.problem.kind, settings.target, len(data.features), counts.rows, counts.missing or "n/a",
    )  # fmt: skip
    return counts


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
    tables: DeltaStore, config: LakehouseConfig, name: str, settings: ModelSettings, registry: ModelRegistry
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
    data = prepare_training_data(tables, config, name, settings)
    metric = selection_metric(name, settings, data.problem)
    run_id = registry.open_run(name)
    tracker = _TrialTracker(registry, run_id, name, metric)
    try:
        try:
            counts = checked_splits(name, settings, data, log)
            cores = executor_cores(tables.spark)
            prepared = TrialSearch.prepare(
                name, settings, data, metric, cores, log, tracker.log_trial, counts.rows
            )
            trials, best, facts = search(prepared)
            tracker.log_cross_validation(trials)
            evaluation = evaluate_splits(name, settings, data, best.model, best.kept_model)
        finally:
            data.rows.unpersist()
        outcome = SearchOutcome(trials, best, metric, facts)
        version, decision, params = register_and_promote(
            registry, name, settings, data, best, trials, evaluation, counts, facts, metric, run_id
        )
    except BaseException:
        registry.close_run(run_id, failed=True)
        raise
    report = training_report(name, settings, data, counts, outcome, evaluation, version, decision, params)
    location = write_report(tables.spark, tables.layout, registry, version, report)
    log.info(
        "model %s v%d trained in %.0f s; report %s",
        name,
        version.version,
        time.monotonic() - started,
        location,
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
        location,
        data.notes,
        facts["search_seconds"],
    )

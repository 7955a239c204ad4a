"""Train a model of models.yml: read, split by time, search, evaluate, register, promote.

The job reads the label table and the feature tables each at one pinned Delta version (recorded
with the model), builds the training set point-in-time, fits one SynapseML LightGBM pipeline per
trial on the training rows with early stopping on the validation rows, keeps the trial best on
validation, picks the threshold on validation, and judges the kept model once on the test rows.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import LOWER_IS_BETTER, ModelSettings, duration_days
from lakehouse.errors import FeatureError, ModelError, TableNotFoundError
from lakehouse.features.build import feature_table_name
from lakehouse.io import files
from lakehouse.models.dataset import SPLIT_COLUMN, TimeSplit, join_features, split_by_time, with_split
from lakehouse.models.evaluation import (
    best_f1_threshold,
    evaluate_classifier,
    evaluate_regressor,
    score_bins,
)
from lakehouse.models.learner import build_pipeline, feature_importances, lightgbm_model
from lakehouse.models.registry import ModelRegistry, ModelVersion, PromotionDecision, decide_promotion
from lakehouse.models.report import render_training_report
from lakehouse.models.scoring import score
from lakehouse.models.search import run_trials, trial_params, trials_at_once
from lakehouse.runs.context import JobContext

VALIDATION_FLAG = "_is_validation"
SCORE = "_score"


@dataclass
class Trial:
    """One fit of the search."""

    index: int
    params: dict[str, Any]
    searched: dict[str, Any]
    metric: float
    best_iteration: int
    seconds: float
    model: Any = field(repr=False)


@dataclass
class ModelInputs:
    """The feature tables a model reads, each at one Delta version."""

    tables: dict[str, tuple[DataFrame, str]]  # table -> (entity, as-of column, features; as-of column)
    features: list[str]
    data_versions: dict[str, int]


@dataclass
class TrainingResult:
    model: str
    version: ModelVersion
    metric: str
    test: dict[str, float]
    validation: dict[str, float]
    trials: list[Trial]
    best_trial: int
    split: TimeSplit
    rows: dict[str, int]
    promotion: PromotionDecision
    report: str


def executor_cores(spark) -> int:
    """Cores of one executor: ``spark.executor.cores`` when set, else the default parallelism
    (all cores of ``local[*]``, or of a standalone cluster's single executor)."""
    configured = spark.conf.get("spark.executor.cores", None)
    return int(configured) if configured else max(1, spark.sparkContext.defaultParallelism)


def read_model_inputs(context: JobContext, name: str, settings: ModelSettings) -> ModelInputs:
    """Each feature table of the model at its latest version, reduced to the features chosen.

    Raises:
        TableNotFoundError: a feature table is not built yet.
        FeatureError: a feature table lacks a chosen feature.
    """
    tables: dict[str, tuple[DataFrame, str]] = {}
    chosen: list[str] = []
    versions: dict[str, int] = {}
    for feature_table, features in settings.features.items():
        table_settings = context.config.features.tables[feature_table]
        table = feature_table_name(feature_table)
        if not context.tables.exists(table):
            raise TableNotFoundError(
                f"models.models.{name}.features: feature table {table} does not exist yet; "
                "run gold_features first"
            )
        versions[table] = context.tables.version(table)
        frame = context.tables.read(table, version=versions[table])
        names = list(table_settings.features) if features == "all" else list(features)
        missing = [
            c for c in [*table_settings.entity, table_settings.timestamp, *names] if c not in frame.columns
        ]
        if missing:
            raise FeatureError(f"models.models.{name}.features: {table} lacks columns {missing}")
        tables[table] = (
            frame.select(*table_settings.entity, table_settings.timestamp, *names),
            table_settings.timestamp,
        )
        chosen += names
    return ModelInputs(tables, chosen, versions)


def _read_labels(context: JobContext, name: str, settings: ModelSettings) -> tuple[DataFrame, int]:
    labels = settings.labels
    if not context.tables.exists(labels.table):
        raise TableNotFoundError(
            f"models.models.{name}.labels.table: {labels.table} does not exist yet; run gold_features first"
        )
    version = context.tables.version(labels.table)
    frame = context.tables.read(labels.table, version=version)
    needed = [*labels.entity, labels.time, labels.target]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ModelError(f"models.models.{name}.labels: {labels.table} lacks columns {missing}")
    rows = frame.select(*needed).where(F.col(labels.target).isNotNull())
    return rows, version


def build_training_set(
    context: JobContext, name: str, settings: ModelSettings
) -> tuple[DataFrame, TimeSplit, ModelInputs]:
    """The labelled rows with their features and a ``split`` column, and the split itself."""
    labels, label_version = _read_labels(context, name, settings)
    inputs = read_model_inputs(context, name, settings)
    inputs.data_versions[settings.labels.table] = label_version
    max_age = dt.timedelta(days=duration_days(settings.max_age)) if settings.max_age else None
    joined = join_features(labels, inputs.tables, settings.labels.entity, settings.labels.time, max_age)
    times = [row[0] for row in labels.select(settings.labels.time).distinct().collect()]
    split = split_by_time(times, settings.split.validation, settings.split.test)
    return with_split(joined, settings.labels.time, split), split, inputs


def _better(metric: str, a: float, b: float) -> bool:
    if math.isnan(b):
        return not math.isnan(a)
    return a < b if metric in LOWER_IS_BETTER else a > b


def _scored(model: Any, rows: DataFrame, settings: ModelSettings) -> DataFrame:
    target = settings.labels.target
    return score(model, rows, settings.task, [target], settings.scorer).withColumnRenamed("score", SCORE)


def _split_metrics(
    scored: DataFrame, settings: ModelSettings, threshold: float | None
) -> tuple[dict[str, float], Any]:
    target = settings.labels.target
    if settings.task == "classification":
        report = evaluate_classifier(scored, target, SCORE, threshold if threshold is not None else 0.5)
        return report.metrics, report
    return evaluate_regressor(scored, target, SCORE), None


def train_model(
    context: JobContext, name: str, settings: ModelSettings, registry: ModelRegistry
) -> TrainingResult:
    """Train, evaluate, register and (when it wins) promote one model; see the module docstring.

    Raises:
        TableNotFoundError: the labels or a feature table is not built.
        ModelError: too few label times to split, a split without rows, an unknown LightGBM
            parameter, or a string feature not declared categorical.
    """
    started = time.monotonic()
    data, split, inputs = build_training_set(context, name, settings)
    target = settings.labels.target
    schema = {f.name: f.dataType for f in data.schema.fields}
    string_features = [f for f in inputs.features if isinstance(schema[f], T.StringType)]
    data = data.withColumn(VALIDATION_FLAG, F.col(SPLIT_COLUMN) == "validation").persist()
    try:
        counts = {row[SPLIT_COLUMN]: row["count"] for row in data.groupBy(SPLIT_COLUMN).count().collect()}
        rows = {s: int(counts.get(s, 0)) for s in ("train", "validation", "test")}
        empty = [s for s, n in rows.items() if n == 0]
        if empty:
            raise ModelError(f"model {name}: the {', '.join(empty)} split has no labelled rows ({rows})")
        context.log.info("model %s: training set %s rows by split, split %s", name, rows, split.as_dict())
        # validation rows only steer early stopping (flagged); without it they are left out
        fitted_splits = ["train", "validation"] if settings.early_stopping_rounds > 0 else ["train"]
        fit_rows = data.where(F.col(SPLIT_COLUMN).isin(fitted_splits))
        validation = data.where(F.col(SPLIT_COLUMN) == "validation")
        test = data.where(F.col(SPLIT_COLUMN) == "test")
        metric = settings.selection_metric()
        cores = executor_cores(context.spark)
        threads = cores if settings.threads == "auto" else settings.threads
        candidates = trial_params(settings.search, dict(settings.params))
        at_once = trials_at_once(
            settings.search.parallelism if settings.search else 1, cores, threads, len(candidates)
        )
        if at_once > 1:  # share the cores between the fits running together
            threads = max(1, cores // at_once)
        searched_names = list(settings.search.space) if settings.search else []

        def fit(index: int, params: dict[str, Any]) -> Trial:
            trial_started = time.monotonic()
            pipeline = build_pipeline(
                settings.task,
                inputs.features,
                target,
                settings.categorical,
                string_features,
                params,
                threads,
                VALIDATION_FLAG,
                settings.early_stopping_rounds,
                key=f"models.models.{name}.params",
            )
            model = pipeline.fit(fit_rows)
            metrics, _ = _split_metrics(_scored(model, validation, settings), settings, 0.5)
            booster = lightgbm_model(model)
            trial = Trial(
                index,
                params,
                {k: params[k] for k in searched_names},
                metrics[metric],
                int(booster.getBoosterBestIteration()),
                round(time.monotonic() - trial_started, 2),
                model,
            )
            context.log.info(
                "model %s: trial %d/%d %s -> validation %s %.4f (best iteration %d, %.1f s)",
                name, index + 1, len(candidates), trial.searched, metric, trial.metric,
                trial.best_iteration, trial.seconds,
            )  # fmt: skip
            return trial

        trials = run_trials(fit, candidates, at_once)
        best = trials[0]
        for trial in trials[1:]:
            if _better(metric, trial.metric, best.metric):
                best = trial
        threshold: float | None = None
        validation_scored = _scored(best.model, validation, settings)
        if settings.task == "classification":
            threshold = (
                best_f1_threshold(score_bins(validation_scored, target, SCORE, 0.5))
                if settings.threshold == "max_f1"
                else float(settings.threshold)
            )
        validation_metrics, _ = _split_metrics(validation_scored, settings, threshold)
        test_metrics, test_report = _split_metrics(_scored(best.model, test, settings), settings, threshold)
    finally:
        data.unpersist()
    importance = feature_importances(best.model, inputs.features)
    params = {
        **best.params,
        "threads": threads,
        "trials_at_once": at_once,
        "early_stopping_rounds": settings.early_stopping_rounds,
        "best_iteration": best.best_iteration,
        "threshold": threshold,
        "categorical": ",".join(settings.categorical),
        **{f"split_{key}": value for key, value in split.as_dict().items()},
    }
    metrics = {f"test_{k}": v for k, v in test_metrics.items()}
    metrics |= {f"validation_{k}": v for k, v in validation_metrics.items()}
    metrics |= {f"{s}_rows": float(n) for s, n in rows.items()}
    tags = {"task": settings.task, "metric": metric, "labels": settings.labels.table}
    version = registry.register(
        name, best.model, params, metrics, inputs.features, inputs.data_versions, tags=tags
    )
    production = registry.production(name)
    production_metric = None if production is None else production.metrics.get(f"test_{metric}")
    decision = decide_promotion(
        metric, test_metrics.get(metric, math.nan), production_metric, settings.promotion.margin
    )
    if not settings.promotion.auto:
        decision = PromotionDecision(False, "automatic promotion is off (promotion.auto: false)")
    if decision.promote:
        version = registry.promote(name, version.version, decision.reason)
    facts = {
        "model": name,
        "version": version.version,
        "task": settings.task,
        "metric": metric,
        "test": test_metrics,
        "validation": validation_metrics,
        "confusion": test_report.confusion if test_report else None,
        "roc": test_report.roc if test_report else None,
        "pr": test_report.pr if test_report else None,
        "calibration": test_report.calibration if test_report else None,
        "importance": importance,
        "trials": [vars(t) for t in trials],
        "best_trial": trials.index(best),
        "params": {k: v for k, v in params.items() if v is not None},
        "split": {
            **split.as_dict(),
            **{f"{s} rows": n for s, n in rows.items()},
            **{f"{s} times": n for s, n in split.times.items()},
        },
        "data_versions": inputs.data_versions,
        "promotion": ("promoted to production: " if decision.promote else "not promoted: ") + decision.reason,
    }
    document = render_training_report(facts)
    registry.client.log_text(version.run_id, document, "training_report.html")
    location = context.layout.files_location("reports", "models", f"{name}-v{version.version}.html")
    report = str(files.write_text(context.spark, location, document))
    context.log.info(
        "model %s v%d trained in %.0f s; report %s", name, version.version, time.monotonic() - started, report
    )
    return TrainingResult(
        name,
        version,
        metric,
        test_metrics,
        validation_metrics,
        trials,
        trials.index(best),
        split,
        rows,
        decision,
        report,
    )

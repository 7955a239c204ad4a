"""Models: their data, split, search, promotion and registry (models.yml)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from lakehouse.config.features import duration_days
from lakehouse.config.section import Scalar, Section
from lakehouse.errors import did_you_mean

ModelMetric = Literal["roc_auc", "pr_auc", "log_loss", "accuracy", "f1", "rmse", "mae", "r2"]

ModelTask = Literal["classification", "regression"]


METRICS_OF_TASK: dict[str, tuple[str, ...]] = {
    "classification": ("roc_auc", "pr_auc", "log_loss", "accuracy", "f1"),
    "regression": ("rmse", "mae", "r2"),
}
# The metric that picks the trial and decides promotion when models.yml names none, by problem kind
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
# Metrics a multiclass model reports (macro F1 over the classes); ROC and PR AUC are binary only
MULTICLASS_METRICS = ("log_loss", "accuracy", "f1")
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
TABLE_NAME = r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"


class ModelLabelSettings(Section):
    """What a model learns (``models.models.<m>.labels``): one row per entity and time."""

    table: str = Field(pattern=TABLE_NAME, description="<layer>.<table>.")
    entity: list[str] = Field(min_length=1, description="Key columns shared with the feature tables.")
    time: str = Field(default="label_time", description="When the prediction would be made.")
    target: str = Field(description="The column to predict (0/1 for classification).")


class ModelDataSettings(Section):
    """A model trained straight from one table (``models.models.<m>.data``): each row an example.

    No entity, time or feature table is needed: the table's columns are the features (all, or a
    list), minus the target, the key and ``exclude``.
    """

    table: str = Field(pattern=TABLE_NAME, description="<layer>.<table>, e.g. silver.customers.")
    target: str = Field(min_length=1, description="The column to predict: numeric, boolean or string.")
    features: list[str] | Literal["all"] = Field(
        default="all", description="The feature columns, or all: every column but the target and key."
    )
    exclude: list[str] = Field(default_factory=list, description="Columns never used as features.")
    key: list[str] | None = Field(
        default=None,
        description="Columns identifying a row, kept on predictions; default: the silver table's key.",
    )
    positive: Scalar | None = Field(
        default=None,
        description="The positive class of a binary target; default: true, the greater number, or the "
        "last label in sorted order.",
    )

    @model_validator(mode="after")
    def _target_not_a_feature(self) -> ModelDataSettings:
        if isinstance(self.features, list):
            if self.target in self.features:
                raise ValueError(f"features: the target {self.target!r} cannot also be a feature")
            if not self.features:
                raise ValueError("features: give at least one column, or all")
        if self.key and self.target in self.key:
            raise ValueError(f"key: the target {self.target!r} cannot be part of the key")
        return self


SplitMethod = Literal["random", "stratified", "time", "column"]
FOLD_VALUES = ("train", "validation", "test")


class ModelSplitSettings(Section):
    """How labelled rows are split into train, validation and test (``models.models.<m>.split``).

    ``time``: the latest ``test`` share of the times is the test set, the ``validation`` share
    before it validation (a model of labels and feature tables splits by label time; a table model
    by ``column``). ``random``: each row by a seeded hash of its key (the same row always falls
    in the same split). ``stratified``: the same shares within each class. ``column``: the user's
    fold ``column`` holds train, validation or test.
    """

    method: SplitMethod | None = Field(
        default=None,
        description="Default: time for a model of labels and feature tables; for a table model "
        "stratified (classification) or random (regression).",
    )
    validation: float = Field(default=0.2, gt=0, lt=1, description="Share for validation.")
    test: float = Field(default=0.2, gt=0, lt=1, description="Share for test.")
    seed: int = Field(default=7, description="Seed of the random and stratified splits.")
    column: str | None = Field(
        default=None, description="The time column (time split of a table model) or the fold column."
    )

    @model_validator(mode="after")
    def _room_for_training(self) -> ModelSplitSettings:
        if self.validation + self.test >= 1:
            raise ValueError("validation + test must leave a share for training (sum below 1)")
        if self.method == "column" and not self.column:
            raise ValueError("a column split needs column: the column holding train, validation or test")
        if self.method in ("random", "stratified") and self.column:
            raise ValueError(f"column is not used by a {self.method} split; remove it")
        return self


class ParamRange(Section):
    """A range a search draws from: uniform, or log-uniform with ``log``; ``integer`` rounds."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> ParamRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self


SearchSpace = dict[str, list[Scalar] | ParamRange]
LEARNERS = ("lightgbm", "random_forest", "linear")  # lakehouse.models.learners: one class each


class ModelSearchSettings(Section):
    """Hyperparameter search (``models.models.<m>.search``); the best trial on validation wins.

    ``random`` and ``grid`` search LightGBM over the ``space`` given; ``automl`` chooses the
    learner and its parameters within ``budget_seconds`` (cheap configurations and learners
    first, costlier ones while they keep improving), over each learner's own space, which
    ``learners`` may narrow.
    """

    strategy: Literal["random", "grid", "automl"] = "random"
    trials: int | None = Field(
        default=None,
        ge=1,
        description="At most this many trials (fits); default: 8 for random and grid, no cap for automl.",
    )
    budget_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Wall-clock seconds of the search: no trial starts once they are spent (the "
        "running ones finish); automl stops starting a learner whose trials no longer fit. Needed "
        "by automl.",
    )
    learners: list[str] | dict[str, SearchSpace] | None = Field(
        default=None,
        description="automl: the learners to consider (lightgbm, random_forest, linear; default all), "
        "or learner -> {parameter: list of values or {low, high, log, integer}} narrowing its space.",
    )
    parallelism: int | Literal["auto"] = Field(
        default="auto",
        description="Trials fitted at once; auto: the cores divided by LightGBM's threads per fit.",
    )
    seed: int = 7
    space: SearchSpace = Field(
        default_factory=dict,
        description="random, grid: LightGBM parameter -> list of values, or {low, high, log, integer}.",
    )
    folds: int | Literal["auto"] = Field(
        default="auto",
        description="automl: the top trials are fitted again on this many folds of the training and "
        "validation rows and the best mean held-out metric is kept (a small validation split ranks "
        "close trials by noise); auto: 3 when the validation split has at most 10,000 rows, else 0; "
        "0: the best trial on validation is kept.",
    )
    refit: bool = Field(
        default=True,
        description="automl, after a cross-validation: the kept configuration is fitted again on "
        "the training and validation rows together (LightGBM with the rounds its early stopping "
        "chose) and that fit is the model judged on test and registered; its threshold and "
        "validation figures are the training-rows fit's. false: the trial's own fit is kept.",
    )
    ensemble: bool = Field(
        default=True,
        description="automl, after a cross-validation of a binary or regression model: the kept "
        "model is the weighted average of up to 3 confirmed trials when it beats the best of them "
        "alone on the folds' held-out rows (greedy ensemble selection); false: the best confirmed "
        "trial alone.",
    )

    @property
    def max_trials(self) -> int | None:
        """The trial cap: ``trials``, else 8 for random and grid, none for automl."""
        if self.trials is not None:
            return self.trials
        return None if self.strategy == "automl" else 8

    @model_validator(mode="after")
    def _complete(self) -> ModelSearchSettings:
        if self.strategy == "automl":
            if self.space:
                raise ValueError(
                    "space: automl searches each learner's own space; narrow it under learners.<learner>"
                )
            if self.budget_seconds is None:
                raise ValueError("budget_seconds: an automl search needs its budget in seconds")
            self._check_learners()
            if self.folds != "auto" and self.folds != 0 and not 2 <= self.folds <= 20:
                raise ValueError(f"folds: {self.folds} folds; use 0 (no cross-validation), 2 to 20, or auto")
            return self
        if self.folds != "auto":
            raise ValueError(f"folds: only an automl search cross-validates its trials, not {self.strategy}")
        if "refit" in self.model_fields_set:
            raise ValueError(f"refit: only an automl search refits its kept trial, not {self.strategy}")
        if "ensemble" in self.model_fields_set:
            raise ValueError(f"ensemble: only an automl search averages its trials, not {self.strategy}")
        if self.learners is not None:
            raise ValueError(f"learners: only an automl search chooses learners, not {self.strategy}")
        if not self.space:
            raise ValueError(f"space: a {self.strategy} search needs the LightGBM parameters to search")
        if self.strategy == "grid":
            ranges = [name for name, values in self.space.items() if isinstance(values, ParamRange)]
            if ranges:
                raise ValueError(f"a grid search needs lists of values; {ranges} are ranges")
        _no_empty_lists(self.space, "space")
        return self

    def _check_learners(self) -> None:
        if self.learners is None:
            return
        names = list(self.learners)
        if not names:
            raise ValueError("learners: name at least one learner, or leave learners out for all")
        for name in names:
            if name not in LEARNERS:
                raise ValueError(
                    f"learners: unknown learner {name!r}: {did_you_mean(name, LEARNERS, 'learners')}"
                )
        if isinstance(self.learners, dict):
            from lakehouse.models.learners import learner_named

            for name, space in self.learners.items():
                _no_empty_lists(space, f"learners.{name}")
                learner_named(name).narrowed_space(space, key=f"learners.{name}")

    @property
    def learner_names(self) -> list[str]:
        """The learners an automl search considers, in the order given (default: all)."""
        return list(self.learners) if self.learners is not None else list(LEARNERS)

    def narrowing(self, learner: str) -> SearchSpace:
        """The user's narrowing of ``learner``'s space (empty: the framework's space)."""
        return dict(self.learners.get(learner) or {}) if isinstance(self.learners, dict) else {}


def _no_empty_lists(space: SearchSpace, key: str) -> None:
    empty = [name for name, values in space.items() if isinstance(values, list) and not values]
    if empty:
        raise ValueError(f"{key} {empty}: empty list of values")


class PromotionSettings(Section):
    """When a newly trained model becomes the production one."""

    auto: bool = Field(default=True, description="Promote when it beats production by `margin`.")
    margin: float = Field(default=0.0, ge=0, description="Needed improvement of the test metric.")


class ModelSettings(Section):
    """A model trained by ``train_model`` and scored by ``batch_score`` (``models.models.<m>``)."""

    description: str | None = None
    task: ModelTask | None = Field(
        default=None,
        description="classification (binary or multiclass, by the classes found) or regression; "
        "default: inferred from the target (string or boolean, or numeric with two values: "
        "classification; other numbers: regression); classification for a model of labels.",
    )
    data: ModelDataSettings | None = Field(
        default=None, description="Train straight from one table (instead of labels and features)."
    )
    labels: ModelLabelSettings | None = Field(
        default=None, description="Labels joined point-in-time with feature tables (with features)."
    )
    features: dict[str, list[str] | Literal["all"]] = Field(
        default_factory=dict, description="Feature table (of features.tables) -> its features used, or all."
    )
    categorical: list[str] = Field(
        default_factory=list,
        description="Features LightGBM splits as categories (strings are indexed); a table model "
        "also treats every string feature as categorical.",
    )
    max_age: str | None = Field(default="30d", description="Older feature rows are not used (null: any).")
    max_missing_share: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Training fails when a larger share of a split's labelled rows has no feature row.",
    )
    split: ModelSplitSettings = Field(default_factory=ModelSplitSettings)
    params: dict[str, Scalar] = Field(
        default_factory=dict, description="SynapseML LightGBM parameters (numLeaves, learningRate...)."
    )
    threads: int | Literal["auto"] = Field(
        default="auto", description="LightGBM threads per executor; auto: the executor's cores."
    )
    early_stopping_rounds: int = Field(default=20, ge=0, description="0: no early stopping.")
    search: ModelSearchSettings | None = None
    metric: ModelMetric | None = Field(
        default=None, description="Selects trials and decides promotion; roc_auc or rmse by default."
    )
    threshold: float | Literal["max_f1"] = Field(
        default="max_f1", description="Class 1 at or above it; max_f1: the best F1 on validation."
    )
    promotion: PromotionSettings = Field(default_factory=PromotionSettings)
    scorer: Literal["batch", "synapseml"] = Field(
        default="batch",
        description="batch: LightGBM's matrix predict per 50,000 rows in the JVM (the same trees and "
        "scores, about 2.3x the rows/s); synapseml: the pipeline's transform, one native call per row.",
    )
    predictions: str | None = Field(
        default=None,
        pattern=r"^gold\.[a-z_][a-z0-9_]*$",
        description="Where batch_score writes; gold.<model>_predictions by default.",
    )

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_days(value)
        return value

    @field_validator("threshold")
    @classmethod
    def _probability(cls, value: float | str) -> float | str:
        if isinstance(value, float | int) and not 0 < value < 1:
            raise ValueError("a threshold is a probability between 0 and 1")
        return value

    @model_validator(mode="after")
    def _one_kind_of_data(self) -> ModelSettings:
        if (self.data is None) == (self.labels is None):
            raise ValueError(
                "give either data (train straight from a table) or labels with features (labels "
                "joined point-in-time with feature tables)"
            )
        if self.labels is not None and not self.features:
            raise ValueError("features: a model of labels needs at least one feature table")
        if self.data is not None and self.features:
            raise ValueError("features: a table model chooses its columns in data.features")
        if self.labels is not None and self.split.method not in (None, "time"):
            raise ValueError(
                f"split.method: a model of labels and feature tables splits by label time, not "
                f"{self.split.method!r}; train straight from a table (data:) for other splits"
            )
        if self.data is not None and self.split.method == "time" and not self.split.column:
            raise ValueError("split.column: a time split of a table model needs the time column")
        if (
            self.task is not None
            and self.metric is not None
            and self.metric not in METRICS_OF_TASK[self.task]
        ):
            raise ValueError(
                f"metric {self.metric} is not a {self.task} metric; use one of "
                f"{', '.join(METRICS_OF_TASK[self.task])}"
            )
        return self

    @property
    def target(self) -> str:
        """The column the model predicts."""
        return self.data.target if self.data is not None else self.labels.target  # type: ignore[union-attr]

    @property
    def source(self) -> str:
        """The table holding the target: ``data.table`` or ``labels.table``."""
        return self.data.table if self.data is not None else self.labels.table  # type: ignore[union-attr]

    def selection_metric(self, kind: str | None = None) -> str:
        """The metric that picks the best trial and decides promotion.

        Args:
            kind: the problem found in the data (binary, multiclass or regression); default: the
                declared task's (binary for classification).
        """
        if self.metric:
            return self.metric
        if kind is None:
            kind = "regression" if self.task == "regression" else "binary"
        return DEFAULT_METRIC[kind]


class ModelRegistrySettings(Section):
    """Where models are tracked and registered (MLflow)."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; null: an SQLite store in the lakehouse's mlflow/ folder "
        "(local storage) or in data/mlflow (other storage).",
    )
    registry_uri: str | None = Field(default=None, description="Model registry URI; null: the tracking URI.")
    experiment: str = Field(default="lakehouse", min_length=1)
    production_alias: str = Field(default="production", pattern=r"^[a-z][a-z0-9_-]*$")


class ModelsSettings(Section):
    """Models, their training and the registry (``models:``, conf/base/models.yml)."""

    registry: ModelRegistrySettings = Field(default_factory=ModelRegistrySettings)
    models: dict[str, ModelSettings] = Field(default_factory=dict)

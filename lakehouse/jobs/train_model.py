"""The ``train_model`` job: train, evaluate, register and maybe promote the models of models.yml."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.models.fitting import Trial
from lakehouse.models.registry import ModelRegistry
from lakehouse.models.training import train_model
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Choices, Job, for_each

SHOWN_METRICS = (
    "roc_auc",
    "pr_auc",
    "log_loss",
    "accuracy",
    "f1",
    "precision",
    "recall",
    "rmse",
    "mae",
    "r2",
)


def kept_rounds(trial: Trial) -> int:
    """The boosting rounds a LightGBM trial kept: where early stopping stopped, or all of them
    (``numIterations``, SynapseML's default 100); 0 for another learner."""
    if trial.learner != "lightgbm":
        return 0
    if trial.best_iteration is not None and trial.best_iteration > 0:
        return trial.best_iteration
    return int(trial.params.get("numIterations", 100))


@dataclass(frozen=True)
class TrainModelParams:
    model: str = "all"  # a model of models.yml, a comma-separated list, or all


class TrainModelJob(Job):
    name = "train_model"
    summary = (
        "Train models (from a table, or labels and feature tables; SynapseML LightGBM with a random "
        "or grid search, or AutoML over LightGBM, random forest and linear), register them in MLflow, "
        "promote winners."
    )
    Params = TrainModelParams

    @classmethod
    def choices(cls, config, params) -> dict[str, Choices]:
        """``model`` picks models of models.yml."""
        return {"model": Choices.of(list(config.models.models), "models.models (models.yml)")}

    def run(self, context: JobContext) -> None:
        names = self.selected(context.config, context.params, "model")
        registry = ModelRegistry(context.config)
        for_each(names, lambda name: _train(context, name, registry), context.log, "model", "models")


def _train(context: JobContext, name: str, registry: ModelRegistry) -> None:
    """Train one model; keep its test metrics and what its search cost with the run, and say so."""
    result = train_model(context.tables, context.config, name, context.config.models.models[name], registry)
    shown = ", ".join(
        f"{metric} {result.test[metric]:.4f}" for metric in SHOWN_METRICS if metric in result.test
    )
    context.metrics.update(
        {
            f"{name}.test_{metric}": float(result.test[metric])
            for metric in SHOWN_METRICS
            if metric in result.test
        }
    )
    context.metrics[f"{name}.version"] = float(result.version.version)
    # what the search cost: its wall seconds, its fits' seconds added up (trials may run side by
    # side) and the boosting rounds its LightGBM trials kept
    context.metrics[f"{name}.search_seconds"] = float(result.search_seconds)
    context.metrics[f"{name}.trial_seconds"] = float(sum(t.seconds for t in result.trials))
    context.metrics[f"{name}.rounds"] = float(sum(kept_rounds(t) for t in result.trials))
    context.outputs[f"{name}.report"] = str(result.report)
    searched = (
        f" ({result.learner}, best of {len(result.trials)} trials in {result.search_seconds:.0f} s)"
        if len(result.trials) > 1
        else ""
    )
    print(
        f"model {name} v{result.version.version}{searched}: test {shown} "
        f"({result.rows['test']} rows); {result.promotion.reason}"
        f"{' -> production' if result.promotion.promote else ''}; report {result.report}"
    )

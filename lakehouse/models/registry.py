"""The model registry: MLflow tracking and registry, an embedded SQLite store by default.

Every trained model is an MLflow run (parameters, metrics, the training report) and a version of
a registered model, tagged with its feature list and the Delta versions of the tables it was
trained on. The production version is the one holding the registry's production alias (MLflow
aliases replace the deprecated stages); only :meth:`ModelRegistry.promote` moves it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakehouse.config.model import LakehouseConfig
from lakehouse.config.models import LOWER_IS_BETTER
from lakehouse.errors import ModelError
from lakehouse.storage.layout import StorageLayout

MODEL_ARTIFACT = "model"
_LOCK = threading.Lock()  # MLflow's fluent API keeps the active run per process


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model, with what it was trained on and how it scored."""

    name: str
    version: int
    run_id: str
    metrics: dict[str, float]
    features: list[str]
    data_versions: dict[str, int]
    aliases: list[str]
    created_at_ms: int
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str


def default_store(config: LakehouseConfig) -> Path:
    """The folder of the embedded store: ``<lakehouse root>/mlflow`` for local storage (each
    lakehouse keeps its own models), else ``data/mlflow`` of the project."""
    layout = StorageLayout.from_config(config)
    if layout.kind == "local":
        return Path(layout.root) / "mlflow"
    return config.project_dir / "data" / "mlflow"


def decide_promotion(
    metric: str, candidate: float, production: float | None, margin: float
) -> PromotionDecision:
    """Whether a candidate's test ``metric`` beats production's by ``margin`` (pure).

    The first model of a name is promoted; a candidate whose metric is not a number never is.
    """
    if candidate is None or math.isnan(candidate):
        return PromotionDecision(False, f"test {metric} is not a number")
    if production is None or math.isnan(production):
        return PromotionDecision(True, "no production model yet")
    gain = production - candidate if metric in LOWER_IS_BETTER else candidate - production
    if gain >= margin and gain > 0:
        return PromotionDecision(True, f"test {metric} {candidate:.4f} beats production's {production:.4f}")
    return PromotionDecision(
        False,
        f"test {metric} {candidate:.4f} does not beat production's {production:.4f} by the margin {margin}",
    )


class ModelRegistry:
    """Register, find, promote and load models (MLflow).

    Args:
        config: the environment; ``models.registry`` says where MLflow lives.
    """

    def __init__(self, config: LakehouseConfig):
        import mlflow
        from mlflow.tracking import MlflowClient

        settings = config.models.registry
        store = default_store(config)
        self.tracking_uri = settings.tracking_uri or f"sqlite:///{store}/mlflow.db"
        self.registry_uri = settings.registry_uri or self.tracking_uri
        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self._artifacts = (store / "artifacts").resolve().as_uri() if not settings.tracking_uri else None
        self.experiment = settings.experiment
        self.alias = settings.production_alias
        self._mlflow = mlflow
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    @contextlib.contextmanager
    def _fluent(self):
        """MLflow's fluent API (``log_model``, ``load_model``) pointed at this registry, one thread
        at a time. ``mlflow.set_tracking_uri`` also exports MLFLOW_TRACKING_URI to the process's
        environment, where every later configuration load (and every subprocess) would take it
        for the user's own server: the variables are put back as they were."""
        names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
        with _LOCK:
            saved = {name: os.environ.get(name) for name in names}
            try:
                self._mlflow.set_tracking_uri(self.tracking_uri)
                self._mlflow.set_registry_uri(self.registry_uri)
                yield
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return found.experiment_id
        return self.client.create_experiment(self.experiment, artifact_location=self._artifacts)

    def open_run(self, name: str) -> str:
        """Start the MLflow run of one training of ``name`` (its trials become child runs, the
        registered version is logged into it); returns its id."""
        run = self.client.create_run(
            self._experiment_id(), run_name=f"train {name}", tags={"lakehouse.model": name}
        )
        return run.info.run_id

    def close_run(self, run_id: str, failed: bool) -> None:
        """End a run of :meth:`open_run` that did not reach :meth:`register` (FAILED or KILLED)."""
        run = self.client.get_run(run_id)
        if run.info.status == "RUNNING":
            self.client.set_terminated(run_id, "FAILED" if failed else "KILLED")

    def log_trial(
        self,
        parent_run_id: str,
        name: str,
        trial: Mapping[str, Any],
        metric: str,
    ) -> str:
        """One search trial as a child run of ``parent_run_id``: its learner, parameters,
        validation ``metric`` and seconds, or (status FAILED) its ``error`` (thread-safe: trials
        finish in several threads). Returns the child run's id."""
        from mlflow.entities import Metric, Param, RunTag

        started_ms = int(trial["started_epoch"] * 1000)
        ended_ms = started_ms + int(trial["seconds"] * 1000)
        with _LOCK:
            run = self.client.create_run(
                self._experiment_id(),
                start_time=started_ms,
                run_name=f"{name} trial {trial['index']} ({trial['learner']})",
                tags={
                    "mlflow.parentRunId": parent_run_id,
                    "lakehouse.model": name,
                    "learner": trial["learner"],
                },
            )
            run_id = run.info.run_id
            values = {f"validation_{metric}": trial["metric"], "seconds": trial["seconds"]}
            self.client.log_batch(
                run_id,
                metrics=[
                    Metric(key, float(value), ended_ms, 0)
                    for key, value in values.items()
                    if value is not None and not math.isnan(value)
                ],
                params=[Param(key, str(value)[:6000]) for key, value in trial["params"].items()],
                tags=[
                    RunTag("trial", str(trial["index"])),
                    *([RunTag("error", str(trial["error"])[:5000])] if trial.get("error") else []),
                ],
            )
            status = "FAILED" if trial.get("error") else "FINISHED"
            self.client.set_terminated(run_id, status, end_time=ended_ms)
        return run_id

    def log_trial_metrics(self, trial_run_id: str, metrics: Mapping[str, float]) -> None:
        """Metrics learnt about a trial after it ran (its cross-validated metric)."""
        with _LOCK:
            for key, value in metrics.items():
                self.client.log_metric(trial_run_id, key, float(value))

    def trials(self, run_id: str) -> list[Any]:
        """The child runs (trials) of a training run, oldest first."""
        found = self.client.search_runs(
            [self._experiment_id()], filter_string=f"tags.mlflow.parentRunId = '{run_id}'", max_results=50000
        )
        return sorted(found, key=lambda run: int(run.data.tags.get("trial", 0)))

    def register(
        self,
        name: str,
        model: Any,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        features: Sequence[str],
        data_versions: Mapping[str, int],
        texts: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        run_id: str | None = None,
    ) -> ModelVersion:
        """Log a fitted Spark ML model as a new run (or into ``run_id``, of :meth:`open_run`) and
        register it as the next version of ``name``.

        Args:
            model: the fitted ``PipelineModel``.
            params: the training parameters (logged as MLflow params).
            metrics: numbers (NaN ones are left out).
            features: the model's input columns, in order.
            data_versions: Delta version of each table read for training.
            texts: files to attach to the run (name -> text), e.g. the training report.
        """
        import mlflow.spark
        import pyspark

        mlflow = self._mlflow
        version_tags = {
            "features": json.dumps(list(features)),
            "data_versions": json.dumps(dict(data_versions), sort_keys=True),
            **(tags or {}),
        }
        requirements = [f"pyspark=={pyspark.__version__}", "synapseml==1.1.3"]
        where = {"run_id": run_id} if run_id else {"run_name": f"train {name}"}
        with self._fluent(), mlflow.start_run(experiment_id=self._experiment_id(), **where):
            mlflow.log_params({key: str(value)[:6000] for key, value in params.items()})
            mlflow.log_metrics(
                {k: float(v) for k, v in metrics.items() if v is not None and not math.isnan(v)}
            )
            mlflow.set_tags({"lakehouse.model": name, **version_tags})
            for file_name, text in (texts or {}).items():
                mlflow.log_text(text, file_name)
            # explicit requirements: MLflow would otherwise load the model again to infer them
            info = mlflow.spark.log_model(
                model,
                artifact_path=MODEL_ARTIFACT,
                registered_model_name=name,
                pip_requirements=requirements,
            )
        version = int(info.registered_model_version)
        for key, value in version_tags.items():
            self.client.set_model_version_tag(name, str(version), key, value)
        return self.get(name, version)

    def attach_report(self, version: ModelVersion, document: str) -> None:
        """Attach a version's training report (HTML) to its MLflow run, as ``training_report.html``."""
        self.client.log_text(version.run_id, document, "training_report.html")

    def get(self, name: str, version: int) -> ModelVersion:
        """A registered version.

        Raises:
            ModelError: no such model or version.
        """
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_model_version(name, str(version))
        except MlflowException:
            raise ModelError(
                f"model {name!r} has no version {version} in the registry at {self.registry_uri}; "
                f"versions: {[v.version for v in self.versions(name)] or 'none'}"
            ) from None
        return self._version(found)

    def _version(self, found: Any) -> ModelVersion:
        run = self.client.get_run(found.run_id)
        tags = found.tags or {}
        return ModelVersion(
            name=found.name,
            version=int(found.version),
            run_id=found.run_id,
            metrics=dict(run.data.metrics),
            features=json.loads(tags.get("features", "[]")),
            data_versions=json.loads(tags.get("data_versions", "{}")),
            aliases=list(found.aliases or []),
            created_at_ms=int(found.creation_timestamp),
            tags=dict(tags),
        )

    def versions(self, name: str) -> list[ModelVersion]:
        """Every registered version of ``name``, newest first (none when the name is unknown)."""
        found = self.client.search_model_versions(f"name = '{name}'")
        # a search leaves aliases out: fetch each version for them
        complete = [self.client.get_model_version(name, v.version) for v in found]
        return sorted((self._version(v) for v in complete), key=lambda v: v.version, reverse=True)

    def names(self) -> list[str]:
        return sorted(model.name for model in self.client.search_registered_models())

    def production(self, name: str) -> ModelVersion | None:
        """The version holding the production alias, or None."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_model_version_by_alias(name, self.alias)
        except MlflowException:
            return None
        return self._version(found)

    def promote(self, name: str, version: int, reason: str) -> ModelVersion:
        """Make ``version`` the production version of ``name`` (moves the alias).

        Raises:
            ModelError: no such version.
        """
        self.get(name, version)
        self.client.set_registered_model_alias(name, self.alias, str(version))
        self.client.set_model_version_tag(name, str(version), "promotion_reason", reason)
        return self.get(name, version)

    def load(self, version: ModelVersion) -> Any:
        """The fitted ``PipelineModel`` of a version."""
        import mlflow.spark

        # SynapseML's import patches pyspark so that loading maps its JVM stages to its Python
        # classes (otherwise: No module named 'com')
        import synapse.ml.lightgbm  # noqa: F401

        with self._fluent():
            return mlflow.spark.load_model(version.uri)

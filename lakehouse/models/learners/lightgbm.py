"""The LightGBM learner: index string categories, assemble, SynapseML LightGBM.

Categorical features stay categorical: LightGBM gets their vector slots and splits on category
sets, instead of on one-hot columns or on an arbitrary order. Missing values stay missing (NaN),
which LightGBM routes on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import StringIndexer, VectorAssembler

from lakehouse.config.section import Scalar
from lakehouse.errors import ModelError
from lakehouse.models.learners.base import INDEX_SUFFIX, VECTOR_COLUMN, Dimension, FeatureSet, Learner, Space


def _learner_class(task: str):
    from synapse.ml.lightgbm import LightGBMClassifier, LightGBMRegressor

    return LightGBMClassifier if task == "classification" else LightGBMRegressor


def _assembling_stages(features: Sequence[str], string_features: Sequence[str]) -> list:
    """A StringIndexer of the string features (when there are any), then the VectorAssembler."""
    indexed = {name: f"{name}{INDEX_SUFFIX}" for name in string_features}
    stages = []
    if indexed:
        stages.append(
            StringIndexer(
                inputCols=list(indexed),
                outputCols=list(indexed.values()),
                handleInvalid="keep",  # a category unseen in training gets its own index
                stringOrderType="alphabetAsc",
            )
        )
    columns = [indexed.get(name, name) for name in features]
    stages.append(VectorAssembler(inputCols=columns, outputCol=VECTOR_COLUMN, handleInvalid="keep"))
    return stages


def build_pipeline(
    task: str,
    features: Sequence[str],
    target: str,
    categorical: Sequence[str] = (),
    string_features: Sequence[str] = (),
    params: Mapping[str, Scalar] | None = None,
    threads: int | None = None,
    validation_column: str | None = None,
    early_stopping_rounds: int = 0,
    key: str = "params",
) -> Pipeline:
    """An unfitted pipeline: StringIndexer for string features, VectorAssembler, LightGBM.

    Args:
        task: classification (LightGBMClassifier) or regression (LightGBMRegressor).
        features: the feature columns, in the order of the assembled vector.
        target: the label column.
        categorical: features LightGBM treats as categories (string ones are indexed first).
        string_features: features whose type is string; they must be categorical.
        params: LightGBM parameters by their SynapseML names (numLeaves, learningRate...).
        threads: LightGBM threads per executor (``numThreads``).
        validation_column: a boolean column marking the validation rows, for early stopping.
        early_stopping_rounds: stop when the validation metric has not improved for this many
            rounds (0: never).
        key: the configuration key of ``params``, named in errors.

    Raises:
        ModelError: a parameter LightGBM does not know, or a string feature not categorical.
    """
    learner_class = _learner_class(task)
    params = dict(params or {})
    probe = learner_class()
    unknown = [name for name in params if not probe.hasParam(name)]
    if unknown:
        raise ModelError(f"{key}: {learner_class.__name__} has no parameters {unknown}")
    not_categorical = [name for name in string_features if name not in categorical]
    if not_categorical:
        raise ModelError(f"string features {not_categorical} must be listed in categorical")
    stages = _assembling_stages(features, string_features)
    settings: dict[str, object] = {
        "featuresCol": VECTOR_COLUMN,
        "labelCol": target,
        "categoricalSlotIndexes": [features.index(name) for name in categorical],
        "verbosity": -1,
        # rows reach LightGBM's native side in one bulk copy per partition rather than streamed in
        # chunks: about 10% less fit time on 800,000 x 30 rows (benchmarks/train.py); a model's
        # params may still choose streaming
        "dataTransferMode": "bulk",
        **params,
    }
    if threads:
        settings["numThreads"] = threads
    if validation_column and early_stopping_rounds > 0:
        settings["validationIndicatorCol"] = validation_column
        settings["earlyStoppingRound"] = early_stopping_rounds
    stages.append(learner_class(**settings))
    return Pipeline(stages=stages)


def lightgbm_model(model: PipelineModel):
    """The fitted LightGBM stage of a pipeline model."""
    return model.stages[-1]


def feature_importances(model: PipelineModel, features: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{feature: {"gain": ..., "split": ...}}`` of a fitted pipeline."""
    booster = lightgbm_model(model)
    gain = booster.getFeatureImportances("gain")
    split = booster.getFeatureImportances("split")
    return {
        name: {"gain": float(gain[index]), "split": float(split[index])}
        for index, name in enumerate(features)
    }


class LightGBM(Learner):
    """SynapseML's LightGBM: gradient-boosted trees trained natively on the executors; missing
    values stay NaN and categories are split as sets."""

    name = "lightgbm"
    relative_cost = 1.0
    model_classes = ("LightGBMClassificationModel", "LightGBMRegressionModel")

    def space(self, task: str, train_rows: int) -> Space:
        most_leaves = max(8, min(256, train_rows // 4))
        # A Spark trial has a fixed cost of seconds (its jobs) that dwarfs a round's or a leaf's on
        # small data, and early stopping ends a fit whose rounds stop paying: the search starts
        # from LightGBM's usual defaults (100 rounds, 31 leaves), not from FLAML's cheapest (4, 4).
        # Its second starting point is small trees learning slowly (8 leaves, rate 0.05, up to 300
        # rounds, 80% of the features per tree), which often generalise better on a few thousand
        # rows or fewer; the search goes on from whichever of the two is better.
        return {
            "numIterations": Dimension(8, 1024, log=True, integer=True, init=100, second=300),
            "numLeaves": Dimension(
                4, most_leaves, log=True, integer=True, init=min(31, most_leaves), second=8
            ),
            "minDataInLeaf": Dimension(2, 128, log=True, integer=True, init=20),
            "learningRate": Dimension(1 / 1024, 1.0, log=True, init=0.1, second=0.05),
            "featureFraction": Dimension(0.1, 1.0, init=1.0, second=0.8),
            # coarse histograms regularise small data (FLAML searches them too)
            "maxBin": Dimension(7, 1023, log=True, integer=True, init=255),
            "lambdaL1": Dimension(1 / 1024, 1024, log=True, init=1 / 1024),
            "lambdaL2": Dimension(1 / 1024, 1024, log=True, init=1.0),
        }

    def pipeline(self, task, features, label, params, threads, validation_column, early_stopping_rounds, key):
        return build_pipeline(
            task,
            list(features.names),
            label,
            list(features.categorical),
            list(features.strings),
            params,
            threads,
            validation_column,
            early_stopping_rounds,
            key=key,
        )

    def importances(self, model, features):
        return feature_importances(model, features)

    def best_iteration(self, model) -> int | None:
        return int(lightgbm_model(model).getBoosterBestIteration())

    def preparation(self, features: FeatureSet, fitted_on: str = "the training rows") -> dict[str, str]:
        return {"missing values": "kept as NaN (LightGBM routes them)"}

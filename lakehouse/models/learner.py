"""The Spark ML pipeline a model is: index string categories, assemble, SynapseML LightGBM.

Categorical features stay categorical: LightGBM gets their vector slots and splits on category
sets, instead of on one-hot columns or on an arbitrary order. Missing values stay missing (NaN),
which LightGBM routes on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column
from pyspark.sql import functions as F

from lakehouse.config.model import Scalar
from lakehouse.errors import ModelError

VECTOR_COLUMN = "_features"
INDEX_SUFFIX = "__index"


def _learner_class(task: str):
    from synapse.ml.lightgbm import LightGBMClassifier, LightGBMRegressor

    return LightGBMClassifier if task == "classification" else LightGBMRegressor


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
    settings: dict[str, object] = {
        "featuresCol": VECTOR_COLUMN,
        "labelCol": target,
        "categoricalSlotIndexes": [features.index(name) for name in categorical],
        "verbosity": -1,
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


def scoring_model(model: PipelineModel, task: str) -> PipelineModel:
    """A copy of ``model`` whose LightGBM stage outputs only what scoring reads: the probability
    (classification) or the prediction (regression). SynapseML scores each output column with
    its own native call per row, so the columns left out are work saved."""
    booster = lightgbm_model(model)
    unused = {booster.rawPredictionCol: "", booster.predictionCol: ""} if task == "classification" else {}
    return PipelineModel([*model.stages[:-1], booster.copy(unused)])


def feature_importances(model: PipelineModel, features: Sequence[str]) -> dict[str, dict[str, float]]:
    """``{feature: {"gain": ..., "split": ...}}`` of a fitted pipeline."""
    booster = lightgbm_model(model)
    gain = booster.getFeatureImportances("gain")
    split = booster.getFeatureImportances("split")
    return {
        name: {"gain": float(gain[index]), "split": float(split[index])}
        for index, name in enumerate(features)
    }


def positive_probability(column: str = "probability") -> Column:
    """The probability of class 1 from a classifier's probability vector."""
    return vector_to_array(F.col(column))[1]

"""The learners a model can use, one class each, in one table (``LEARNERS``).

A new learner is one new module with a :class:`~lakehouse.models.learners.base.Learner` subclass
and one line here (and its name in ``lakehouse.config.model.LEARNERS``).
"""

from __future__ import annotations

from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column
from pyspark.sql import functions as F

from lakehouse.config.models import LEARNERS as LEARNER_NAMES
from lakehouse.errors import ModelError
from lakehouse.models.learners.base import Choice, Dimension, FeatureSet, Learner, Space, scoring_estimator
from lakehouse.models.learners.ensemble import Ensemble, averaged, members_of
from lakehouse.models.learners.forest import RandomForest
from lakehouse.models.learners.lightgbm import LightGBM, build_pipeline, lightgbm_model
from lakehouse.models.learners.linear import Linear

LEARNERS: dict[str, Learner] = {learner.name: learner for learner in (LightGBM(), RandomForest(), Linear())}
assert tuple(LEARNERS) == LEARNER_NAMES, "lakehouse.config.model.LEARNERS lists the learners' names"
ENSEMBLE = Ensemble()  # built by an AutoML search from its trials, not chosen by a user

__all__ = [
    "ENSEMBLE",
    "LEARNERS",
    "Choice",
    "Dimension",
    "FeatureSet",
    "Learner",
    "Space",
    "averaged",
    "build_pipeline",
    "learner_named",
    "learner_of",
    "lightgbm_model",
    "members_of",
    "positive_probability",
    "scoring_model",
]


def learner_named(name: str) -> Learner:
    """The learner of that name (names are checked when the configuration loads), or the
    ensemble."""
    return ENSEMBLE if name == ENSEMBLE.name else LEARNERS[name]


def learner_of(model: PipelineModel) -> Learner:
    """The learner whose estimator ends a fitted pipeline.

    Raises:
        ModelError: a pipeline of no known learner.
    """
    for learner in (ENSEMBLE, *LEARNERS.values()):  # an average may end with a linear model
        if learner.owns(model):
            return learner
    raise ModelError(f"a model whose last stage is {type(model.stages[-1]).__name__} is of no known learner")


def scoring_model(model: PipelineModel, task: str) -> PipelineModel:
    """A copy of ``model`` whose estimator outputs only what scoring reads (see
    :func:`~lakehouse.models.learners.base.scoring_estimator`); an average is built that way,
    member by member."""
    if ENSEMBLE.owns(model):
        return model
    return PipelineModel([*model.stages[:-1], scoring_estimator(model.stages[-1], task)])


def positive_probability(column: str = "probability") -> Column:
    """The probability of class 1 from a classifier's probability vector."""
    return vector_to_array(F.col(column))[1]

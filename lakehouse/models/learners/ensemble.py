"""An AutoML model that averages several fitted pipelines: the kept model when the weighted
average of some confirmed trials beats the best of them alone on the folds (see
:func:`lakehouse.models.cross_validation.select_ensemble`).

The average is one flat ``PipelineModel`` of Spark's and SynapseML's own stages, so that MLflow's
Spark flavour logs and loads it like any other model (SynapseML refuses to load a Python stage
from a saved pipeline) and ``batch_score`` scores it:

1. each member's stages, their output columns prefixed ``_m<i>_`` (a classifier's member keeps only
   its probability);
2. a ``VectorAssembler`` of the members' probabilities (or predictions) into ``_members``;
3. a fixed linear map of it, the weighted sum: a ``PCAModel`` whose matrix holds each member's
   weight on its classes (output ``probability``, a vector like a single classifier's), or for a
   regression a ``LinearRegressionModel`` whose coefficients are the weights (output
   ``prediction``).

The last stage's uid starts with ``UID_PREFIX``: that marks the pipeline as an average.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from pyspark.ml import PipelineModel
from pyspark.ml.common import _py2java
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.linalg import DenseMatrix, DenseVector
from pyspark.ml.wrapper import JavaParams
from pyspark.sql import SparkSession

from lakehouse.models.learners.base import FeatureSet, Learner, scoring_estimator

UID_PREFIX = "lakehouse_average_"
MEMBERS_COLUMN = "_members"
PREFIX = "_m{}_"
MEMBER_OUTPUT = re.compile(r"_m(\d+)_")
SQL_NAME = re.compile(r"(AS )?`((?:[^`]|``)*)`")  # a quoted name in a statement, and whether an alias
INPUT_PARAMS = ("inputCol", "inputCols", "featuresCol")
OUTPUT_PARAMS = (
    "outputCol", "outputCols", "predictionCol", "probabilityCol", "rawPredictionCol", "leafPredictionCol",
    "featuresShapCol", "varianceCol",
)  # fmt: skip


def _renamed(
    stages: Sequence[Any], rename: Callable[[str], str], internal: Callable[[str], bool]
) -> list[Any]:
    """Copies of fitted ``stages`` whose output columns are renamed, and whose inputs too where
    ``internal`` says an earlier stage made them (the raw features keep their names)."""
    copies = []
    for stage in stages:
        changes: dict[Any, Any] = {}
        for names in (INPUT_PARAMS, OUTPUT_PARAMS):  # inputs first: ``rename`` records the outputs
            for param, values in _column_params(stage, names):
                if names is OUTPUT_PARAMS:
                    changed = [rename(v) if v else v for v in values]
                else:
                    changed = [rename(v) if internal(v) else v for v in values]
                if changed != values:
                    changes[param] = changed if isinstance(stage.getOrDefault(param), list) else changed[0]
        copies.append(stage.copy(changes))
    return copies


def _column_params(stage: Any, names: Sequence[str]) -> list[tuple[Any, list[str]]]:
    """The stage's params among ``names`` that it uses, each with its column names as a list
    (``outputCol`` is left out where ``outputCols`` is set: the single one keeps a default)."""
    found = []
    for param in stage.params:
        if param.name in names and stage.isDefined(param) and not _multi(stage, param.name):
            value = stage.getOrDefault(param)
            found.append((param, value if isinstance(value, list) else [value]))
    return found


def _multi(stage: Any, name: str) -> bool:
    """Whether ``name`` (``outputCol``...) is unused because the stage transforms several columns."""
    return stage.hasParam(name + "s") and stage.isSet(stage.getParam(name + "s"))


def _columns(stage: Any, names: Sequence[str]) -> list[str]:
    """The columns a stage reads (``INPUT_PARAMS``) or makes (``OUTPUT_PARAMS``)."""
    found = [v for _, values in _column_params(stage, names) for v in values if v]
    if names is OUTPUT_PARAMS and stage.hasParam("statement"):  # a SQLTransformer's aliases
        found += [
            m.group(2).replace("``", "`") for m in SQL_NAME.finditer(stage.getStatement()) if m.group(1)
        ]
    return found


def _member_stages(member: PipelineModel, index: int, task: str) -> list[Any]:
    estimator = scoring_estimator(member.stages[-1], task)  # a classifier's probability only
    prefix = PREFIX.format(index)
    made: set[str] = set()

    def rename(column: str) -> str:
        made.add(column)
        return prefix + column

    stages = []
    for stage in [*member.stages[:-1], estimator]:  # one at a time: a stage reads what earlier ones made
        if stage.hasParam("statement"):
            # the casts of the raw features are the same in every member and shared (an imputer's
            # fitted values are keyed by its input columns' names: those must not change)
            stages.append(stage)
        else:
            stages += _renamed([stage], rename, lambda column: column in made)
    return stages


def averaged(
    members: Sequence[PipelineModel], weights: Sequence[float], task: str, classes: int = 2
) -> PipelineModel:
    """A fitted pipeline that outputs the weighted mean of ``members``' probabilities (a vector
    ``probability``, classification) or predictions (``prediction``, regression).

    Args:
        members: fitted pipelines of one learner each, all taking the same feature columns.
        weights: one per member, positive; normalised to sum to 1.
        task: classification or regression.
        classes: the classifier's number of classes.

    Raises:
        ValueError: no members, a weight per member missing, a weight not positive, another task.
    """
    if not members or len(members) != len(weights):
        raise ValueError(f"{len(members)} members and {len(weights)} weights")
    if any(weight <= 0 for weight in weights):
        raise ValueError(f"the weights of an average are positive, not {list(weights)}")
    if task not in ("classification", "regression"):
        raise ValueError(f"task: classification or regression, not {task!r}")
    shares = [float(weight) / sum(weights) for weight in weights]
    stages: list[Any] = []
    for index, member in enumerate(members):
        shared = {stage.getStatement() for stage in stages if stage.hasParam("statement")}
        own = _member_stages(member, index, task)
        stages += [
            stage for stage in own if not (stage.hasParam("statement") and stage.getStatement() in shared)
        ]
    output = "probabilityCol" if task == "classification" else "predictionCol"
    outputs = [
        PREFIX.format(index) + member.stages[-1].getOrDefault(output) for index, member in enumerate(members)
    ]
    stages.append(VectorAssembler(inputCols=outputs, outputCol=MEMBERS_COLUMN))
    sc = SparkSession.getActiveSession().sparkContext  # type: ignore[union-attr]
    jvm = sc._jvm
    uid = UID_PREFIX + uuid.uuid4().hex[:12]
    if task == "classification":
        rows = classes * len(members)  # each member's weight on the diagonal of its block
        values = [0.0] * (rows * classes)
        for index, share in enumerate(shares):
            for slot in range(classes):
                values[slot * rows + index * classes + slot] = share  # column-major
        matrix = _py2java(sc, DenseMatrix(rows, classes, values))
        variance = _py2java(sc, DenseVector([1.0 / classes] * classes))
        java = jvm.org.apache.spark.ml.feature.PCAModel(uid, matrix, variance)
        java.setInputCol(MEMBERS_COLUMN).setOutputCol("probability")
    else:
        coefficients = _py2java(sc, DenseVector(shares))
        java = jvm.org.apache.spark.ml.regression.LinearRegressionModel(uid, coefficients, 0.0)
        java.setFeaturesCol(MEMBERS_COLUMN).setPredictionCol("prediction")
    last = JavaParams._from_java(java)
    if task == "classification":
        last._set(k=classes)  # the output size, which a fitted PCA's transform checks
        last._transfer_params_to_java()
    stages.append(last)
    return PipelineModel(stages)


def _starts(prefix: str) -> Callable[[str], bool]:
    return lambda column: column.startswith(prefix)


def is_averaged(model: PipelineModel) -> bool:
    """Whether a fitted pipeline is an average of :func:`averaged`."""
    return str(model.stages[-1].uid).startswith(UID_PREFIX)


def members_of(model: PipelineModel) -> tuple[list[PipelineModel], list[float]]:
    """The member pipelines of an average, as they were fitted, and their weights."""
    last = model.stages[-1]
    by_member: dict[int, list[Any]] = {}
    shared: list[Any] = []
    for stage in model.stages[:-2]:
        member = next((m for m in map(MEMBER_OUTPUT.match, _columns(stage, OUTPUT_PARAMS)) if m), None)
        if member is None:
            shared.append(stage)
        else:
            by_member.setdefault(int(member.group(1)), []).append(stage)
    members = []
    for index, stages in sorted(by_member.items()):
        prefix = PREFIX.format(index)
        read = {column for stage in stages for column in _columns(stage, INPUT_PARAMS)}
        needed = [stage for stage in shared if read & set(_columns(stage, OUTPUT_PARAMS))]
        own = _renamed(stages, lambda c, p=prefix: c.removeprefix(p), _starts(prefix))
        members.append(PipelineModel([*needed, *own]))
    if hasattr(last, "coefficients"):
        weights = [float(value) for value in last.coefficients.toArray()]
    else:
        matrix = last.pc.toArray()
        classes = matrix.shape[1]
        weights = [float(matrix[index * classes, 0]) for index in range(len(members))]
    return members, weights


class Ensemble(Learner):
    """The average of an AutoML search's confirmed trials (not a learner a user chooses: the
    search builds it from the learners' trials)."""

    name = "ensemble"

    def owns(self, model: Any) -> bool:
        return is_averaged(model)

    def importances(self, model: Any, features: Sequence[str]) -> dict[str, dict[str, float]]:
        """Each member's own importance (its first kind) as shares of its total, averaged with
        the members' weights: kinds of different learners are not comparable, their shares are."""
        from lakehouse.models.learners import learner_of  # the table of learners imports this module

        shares = dict.fromkeys(features, 0.0)
        for member, weight in zip(*members_of(model), strict=True):
            own = learner_of(member).importances(member, features)
            values = {name: abs(next(iter(kinds.values()), 0.0)) for name, kinds in own.items()}
            total = sum(values.values())
            for name, value in values.items():
                shares[name] += weight * (value / total if total else 0.0)
        return {name: {"weighted share": value} for name, value in shares.items()}

    def preparation(self, features: FeatureSet, fitted_on: str = "the training rows") -> dict[str, str]:
        return {"members": f"each member prepares the features as its learner does, on {fitted_on}"}

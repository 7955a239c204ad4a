"""What every learner is: its Spark ML pipeline, its search space, and what it tells of a fit.

A learner is one class of :mod:`lakehouse.models.learners` (listed in ``LEARNERS``). It turns the
model's features into a pipeline (indexing, encoding, imputation where the estimator cannot take
missing values, assembling, the estimator), gives the space an AutoML search explores (with the
cheap starting values that make the search cost-aware), and reads importances and the best
iteration back from a fitted pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from lakehouse.config.models import ParamRange
from lakehouse.config.section import Scalar
from lakehouse.errors import did_you_mean

VECTOR_COLUMN = "_features"
INDEX_SUFFIX = "__index"


@dataclass(frozen=True)
class Dimension:
    """A numeric parameter's range: uniform, or log-uniform with ``log``; ``integer`` rounds.

    ``init`` is where a search starts; ``cheap`` (when set) is the value of lowest cost (fewest
    trees, leaves...), which a cost-aware search starts from and moves away from only while it pays.
    ``second`` (when set) is this parameter's value in a second starting point, tried right after
    the first (the other parameters at their start): the search goes on from the better of the two.
    """

    low: float
    high: float
    log: bool = False
    integer: bool = False
    init: Scalar | None = None
    cheap: Scalar | None = None
    second: Scalar | None = None

    def start(self) -> Scalar:
        value = self.cheap if self.cheap is not None else self.init
        if value is None:
            value = (self.low * self.high) ** 0.5 if self.log else (self.low + self.high) / 2
        return self._within(value)

    def second_start(self) -> Scalar:
        return self.start() if self.second is None else self._within(self.second)

    def _within(self, value: Scalar) -> Scalar:
        value = min(max(float(value), self.low), self.high)
        return round(value) if self.integer else value


@dataclass(frozen=True)
class Choice:
    """A parameter taking one of a list of values."""

    values: tuple[Scalar, ...]
    init: Scalar | None = None

    def start(self) -> Scalar:
        return self.init if self.init in self.values else self.values[0]

    def second_start(self) -> Scalar:
        return self.start()


Space = dict[str, Dimension | Choice]


@dataclass(frozen=True)
class FeatureSet:
    """The model's features as a learner sees them.

    Attributes:
        names: the feature columns, in the model's order.
        categorical: features that are categories (strings always are).
        strings: features whose type is string.
        cardinality: distinct values of each categorical feature in the training rows (a tree
            learner needs at least as many bins), when known.
    """

    names: Sequence[str]
    categorical: Sequence[str] = ()
    strings: Sequence[str] = ()
    cardinality: Mapping[str, int] = field(default_factory=dict)

    @property
    def continuous(self) -> list[str]:
        return [name for name in self.names if name not in self.categorical]


class Learner:
    """One kind of estimator (subclasses fill in the class attributes and methods)."""

    name: ClassVar[str]
    relative_cost: ClassVar[float] = 1.0  # the cost of its cheapest trial, LightGBM's being 1
    model_classes: ClassVar[tuple[str, ...]] = ()  # the fitted estimator's class names

    def space(self, task: str, train_rows: int) -> Space:
        """The space an AutoML search explores for ``task`` on ``train_rows`` training rows."""
        raise NotImplementedError

    def narrowed_space(
        self, narrowing: Mapping[str, list[Scalar] | ParamRange], key: str, task: str = "classification",
        train_rows: int = 1_000_000,
    ) -> Space:  # fmt: skip
        """The space with the user's ranges or lists in place of the framework's.

        Raises:
            ValueError: a parameter outside the learner's space (named with ``key``).
        """
        space = self.space(task, train_rows)
        narrowed = dict(space)
        for name, values in narrowing.items():
            if name not in space:
                raise ValueError(
                    f"{key}.{name}: {self.name} searches no parameter {name!r}: "
                    f"{did_you_mean(name, space, 'parameters')}"
                )
            if isinstance(values, list):
                narrowed[name] = Choice(tuple(values), values[0])
            else:
                base = space[name]
                if not isinstance(base, Dimension):
                    raise ValueError(
                        f"{key}.{name}: {self.name}'s {name} takes one of {list(base.values)}; give a list"
                    )
                # an integer parameter stays an integer, whatever the range says
                narrowed[name] = replace(
                    Dimension(values.low, values.high, values.log, values.integer or base.integer),
                    init=base.start(),
                    cheap=base.cheap,
                    second=base.second,
                )
        return narrowed

    def pipeline(
        self,
        task: str,
        features: FeatureSet,
        label: str,
        params: Mapping[str, Scalar],
        threads: int | None,
        validation_column: str | None,
        early_stopping_rounds: int,
        key: str,
    ) -> Any:
        """An unfitted ``pyspark.ml.Pipeline`` for ``task`` (classification or regression)."""
        raise NotImplementedError

    def importances(self, model: Any, features: Sequence[str]) -> dict[str, dict[str, float]]:
        """``{feature: {kind: value}}`` of a fitted pipeline (kinds depend on the learner)."""
        raise NotImplementedError

    def best_iteration(self, model: Any) -> int | None:
        """The boosting round kept by early stopping, for learners that have one."""
        return None

    def preparation(self, features: FeatureSet, fitted_on: str = "the training rows") -> dict[str, str]:
        """How the pipeline prepares the features before the estimator, for the record
        (``fitted_on``: the rows its statistics come from)."""
        return {}

    def owns(self, model: Any) -> bool:
        """Whether a fitted pipeline ends with this learner's estimator."""
        return type(model.stages[-1]).__name__ in self.model_classes


NUMERIC_SUFFIX = "__num"
IMPUTED_SUFFIX = "__imputed"
ENCODED_SUFFIX = "__onehot"


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def prepared_stages(features: FeatureSet, impute: str, one_hot: bool) -> tuple[list[Any], list[str]]:
    """Stages that make ``features`` ready for a Spark ML estimator that cannot take missing
    values, and the columns to assemble (one per feature, in order).

    Categorical features (strings, and numbers declared categorical) are indexed, a missing or
    unseen value getting its own index; with ``one_hot`` they are then one-hot encoded. Other
    features are cast to double and their missing values (null or NaN) replaced by the training
    rows' ``impute`` statistic (mean or median), which the fitted pipeline keeps.
    """
    from pyspark.ml.feature import Imputer, OneHotEncoder, SQLTransformer, StringIndexer

    stages: list[Any] = []
    categorical = [name for name in features.names if name in features.categorical]
    continuous = features.continuous
    columns: dict[str, str] = {}
    if continuous:
        casts = ", ".join(
            f"CAST({_quoted(name)} AS DOUBLE) AS {_quoted(name + NUMERIC_SUFFIX)}" for name in continuous
        )
        stages.append(SQLTransformer(statement=f"SELECT *, {casts} FROM __THIS__"))
        stages.append(
            Imputer(
                inputCols=[name + NUMERIC_SUFFIX for name in continuous],
                outputCols=[name + IMPUTED_SUFFIX for name in continuous],
                strategy=impute,
            )
        )
        columns |= {name: name + IMPUTED_SUFFIX for name in continuous}
    if categorical:
        stages.append(
            StringIndexer(
                inputCols=categorical,
                outputCols=[name + INDEX_SUFFIX for name in categorical],
                handleInvalid="keep",  # missing and unseen categories get their own index
                stringOrderType="alphabetAsc",
            )
        )
        if one_hot:
            stages.append(
                OneHotEncoder(
                    inputCols=[name + INDEX_SUFFIX for name in categorical],
                    outputCols=[name + ENCODED_SUFFIX for name in categorical],
                    handleInvalid="keep",
                )
            )
        suffix = ENCODED_SUFFIX if one_hot else INDEX_SUFFIX
        columns |= {name: name + suffix for name in categorical}
    return stages, [columns[name] for name in features.names]


def spark_ml_pipeline(features: FeatureSet, impute: str, one_hot: bool, estimator: Any) -> Any:
    """A pipeline of :func:`prepared_stages`, the assembler and a Spark ML ``estimator`` (which
    reads the assembled ``VECTOR_COLUMN``)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler

    stages, columns = prepared_stages(features, impute, one_hot)
    stages.append(VectorAssembler(inputCols=columns, outputCol=VECTOR_COLUMN, handleInvalid="keep"))
    return Pipeline(stages=[*stages, estimator])


def scoring_estimator(estimator: Any, task: str) -> Any:
    """A copy of a fitted estimator that outputs only what scoring reads: the probability
    (classification) or the prediction (regression). SynapseML scores each output column with
    its own native call per row, so the columns left out are work saved."""
    unused = {estimator.rawPredictionCol: "", estimator.predictionCol: ""} if task == "classification" else {}
    return estimator.copy(unused)


def slot_features(model: Any, features: Sequence[str]) -> list[str]:
    """The feature behind each slot of a fitted pipeline's assembled vector (a one-hot encoded
    feature has several slots)."""
    from pyspark.ml.feature import OneHotEncoderModel

    sizes = dict.fromkeys(features, 1)
    for stage in model.stages:
        if isinstance(stage, OneHotEncoderModel):
            for column, size in zip(stage.getInputCols(), stage.categorySizes, strict=True):
                # dropLast removes a slot, handleInvalid keep adds one for unseen categories
                sizes[column.removesuffix(INDEX_SUFFIX)] = size
    return [name for name in features for _ in range(sizes[name])]

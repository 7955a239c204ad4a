"""Batch scoring (pure): rows to score, their predictions, and what is left to score.

A prediction row: the entity, the as-of date of the features scored, the score (probability of
class 1, or the predicted value of a regression), the predicted class at the model's threshold,
the threshold, the model's name and version, and when it was scored. One row per entity, date
and model version: a rerun finds nothing left to score.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.errors import MissingFeaturesError
from lakehouse.models.learner import positive_probability, scoring_model

MODEL_COLUMNS = ("model_name", "model_version")


def check_features(rows: DataFrame, features: Sequence[str], model: str, source: str) -> None:
    """Raise when ``rows`` lack any of the model's ``features``.

    Raises:
        MissingFeaturesError: names every missing feature, the model and where the rows came from.
    """
    missing = [name for name in features if name not in rows.columns]
    if missing:
        raise MissingFeaturesError(
            f"model {model} expects features that {source} lacks: {', '.join(missing)} "
            f"(the model was trained on: {', '.join(features)}); rebuild the feature table or "
            "retrain the model on the features that exist",
            missing,
        )


def not_yet_scored(
    rows: DataFrame, predictions: DataFrame | None, keys: Sequence[str], name: str, version: int
) -> DataFrame:
    """``rows`` whose ``keys`` (entity and as-of date) have no prediction by this model version."""
    if predictions is None:
        return rows
    done = predictions.where((F.col("model_name") == name) & (F.col("model_version") == version)).select(
        *keys
    )
    return rows.join(done, list(keys), "left_anti")


def predict(
    model,
    rows: DataFrame,
    keys: Sequence[str],
    task: str,
    threshold: float | None,
    name: str,
    version: int,
    scored_at: dt.datetime,
) -> DataFrame:
    """One prediction row per input row (see the module docstring for the columns).

    Args:
        model: the fitted ``PipelineModel``.
        rows: the keys and the model's features.
        threshold: class 1 at or above it (classification); None for a regression.
    """
    transformed = scoring_model(model, task).transform(rows)
    if task == "classification":
        score = positive_probability()
        predicted = (score >= F.lit(threshold)).cast("int")
    else:
        score = F.col("prediction").cast("double")
        predicted = F.lit(None).cast("int")
    return transformed.select(
        *[F.col(f"`{key}`") for key in keys],
        score.alias("score"),
        predicted.alias("predicted_class"),
        F.lit(threshold).cast("double").alias("threshold"),
        F.lit(name).alias("model_name"),
        F.lit(version).cast("int").alias("model_version"),
        F.lit(scored_at).cast(T.TimestampType()).alias("scored_at"),
    )

"""Batch scoring of a model's production version into ``gold.<model>_predictions``.

The rows scored are the feature rows of the as-of dates asked for (the newest one by default)
that this model version has not scored yet, so a rerun writes nothing, a new as-of date is scored
once, and a newly promoted version scores the latest date again under its own version.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import ModelSettings
from lakehouse.errors import ModelError
from lakehouse.io.table_spec import TableSpec
from lakehouse.models.dataset import join_features
from lakehouse.models.registry import ModelRegistry
from lakehouse.models.scoring import check_features, not_yet_scored, predict
from lakehouse.models.training import read_model_inputs
from lakehouse.runs.context import JobContext

SCORE_TIME = "_score_time"


@dataclass
class ScoringResult:
    model: str
    version: int
    table: str
    dates: tuple[dt.date | None, dt.date | None]
    rows: int


def predictions_table(name: str, settings: ModelSettings) -> str:
    return settings.predictions or f"gold.{name}_predictions"


def predictions_spec(table: str, keys: list[str], rows: DataFrame) -> TableSpec:
    comments = {
        "score": "Probability of class 1 (classification) or the predicted value (regression)",
        "predicted_class": "1 when the score is at or above the threshold",
        "model_version": "Registered version of the model that scored the row",
        "scored_at": "When the batch_score run scored the row",
    }
    fields = [
        T.StructField(f.name, f.dataType, f.nullable, {"comment": comments.get(f.name, "")})
        for f in rows.schema
    ]
    return TableSpec(
        name=table,
        schema=T.StructType(fields),
        key=(*keys, "model_name", "model_version"),
        comment="Batch predictions of the production model, one row per entity, as-of date and model version",
    )


def score_batch(
    context: JobContext,
    name: str,
    settings: ModelSettings,
    registry: ModelRegistry,
    start: dt.date | None = None,
    end: dt.date | None = None,
    version: int | None = None,
) -> ScoringResult:
    """Score the feature rows of as-of dates ``start .. end`` (default: the newest date) not yet
    scored by the production version (or ``version``) and append them to the predictions table.

    Raises:
        ModelError: no production version (and no ``version`` given).
        MissingFeaturesError: the feature tables lack features the model was trained on.
    """
    chosen = registry.get(name, version) if version is not None else registry.production(name)
    if chosen is None:
        raise ModelError(
            f"model {name} has no production version in {registry.registry_uri}: train it "
            f"(`lakehouse run train_model`) or promote one (`lakehouse models promote {name} <version>`)"
        )
    inputs = read_model_inputs(context, name, settings)
    first_table, (first_rows, as_of) = next(iter(inputs.tables.items()))
    entity = settings.labels.entity
    keys = [*entity, as_of]
    if start is None and end is None:
        newest = first_rows.agg(F.max(as_of)).first()[0]
        start = end = newest
    spine = first_rows.select(*keys)
    if start is not None:
        spine = spine.where(F.col(as_of) >= F.lit(start))
    if end is not None:
        spine = spine.where(F.col(as_of) <= F.lit(end))
    table = predictions_table(name, settings)
    existing = context.tables.read(table) if context.tables.exists(table) else None
    todo = not_yet_scored(spine, existing, keys, name, chosen.version)
    if todo.isEmpty():
        context.log.info(
            "%s: nothing to score, %s v%d has scored every row asked for", table, name, chosen.version
        )
        return ScoringResult(name, chosen.version, table, (start, end), 0)
    rows = join_features(
        todo.withColumn(SCORE_TIME, F.col(as_of).cast("timestamp")), inputs.tables, entity, SCORE_TIME, None
    )
    check_features(rows, chosen.features, f"{name} v{chosen.version}", ", ".join(inputs.tables))
    model = registry.load(chosen)
    task = settings.task
    threshold = chosen.metrics.get("test_threshold") if task == "classification" else None
    scored_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    predictions = predict(
        model,
        rows.select(*keys, *chosen.features),
        keys,
        task,
        threshold,
        name,
        chosen.version,
        scored_at,
        settings.scorer,
    )
    spec = predictions_spec(table, keys, predictions)
    merged = context.tables.merge(table, predictions, [*keys, "model_name", "model_version"], spec=spec)
    written = int(merged.get("inserted", 0))
    context.log.info(
        "%s: %d rows scored by %s v%d from %s (as-of %s .. %s)",
        table, written, name, chosen.version, first_table, start, end,
    )  # fmt: skip
    return ScoringResult(name, chosen.version, table, (start, end), written)

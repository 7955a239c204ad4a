"""Batch scoring of a model's production version into ``gold.<model>_predictions``.

A model of labels scores the feature rows of the as-of dates asked for (the newest one by
default) that this model version has not scored yet, so a rerun writes nothing, a new as-of date
is scored once, and a newly promoted version scores the latest date again under its own version.

A table model scores the rows of its table that are new or changed since this version last
scored it (Delta's change data feed; the first run of a version scores every row), upserting one
prediction per key and version, with the target's own labels; the table version read up to is
recorded in ``ops.table_progress``, so a rerun writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import LakehouseConfig
from lakehouse.config.models import ModelSettings
from lakehouse.errors import ChangeFeedError, ModelError, TableNotFoundError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.io.progress import last_source_version, record_source_version
from lakehouse.io.table_spec import TableSpec
from lakehouse.models.dataset import join_features
from lakehouse.models.problem import HISTORY_COLUMNS, Problem
from lakehouse.models.registry import ModelRegistry, ModelVersion
from lakehouse.models.scoring import check_features, not_yet_scored, predict
from lakehouse.models.training_data import read_model_inputs, row_key

log = logging.getLogger(__name__)

SCORE_TIME = "_score_time"


@dataclass
class ScoringResult:
    """What one scoring of a model wrote: the version, the table, the as-of dates (models of
    labels) and the rows written."""

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
        "predicted_class": "Class number: 1 when a binary score is at or above the threshold; the "
        "most probable class of a multiclass model",
        "predicted_label": "The predicted class as a value of the target (e.g. malignant)",
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
        comment="Batch predictions of the production model, one row per key and model version",
        drift="evolve",
    )


def _chosen_version(registry: ModelRegistry, name: str, version: int | None) -> ModelVersion:
    chosen = registry.get(name, version) if version is not None else registry.production(name)
    if chosen is None:
        raise ModelError(
            f"model {name} has no production version in {registry.registry_uri}: train it "
            f"(`lakehouse run train_model`) or promote one (`lakehouse models promote {name} <version>`)"
        )
    return chosen


def score_batch(
    tables: DeltaStore,
    config: LakehouseConfig,
    run_id: str,
    name: str,
    settings: ModelSettings,
    registry: ModelRegistry,
    start: dt.date | None = None,
    end: dt.date | None = None,
    version: int | None = None,
) -> ScoringResult:
    """Score what is left to score with the production version (or ``version``) of a model
    (see the module docstring); ``start .. end`` are the as-of dates of a model of labels.

    Raises:
        ModelError: no production version (and no ``version`` given).
        MissingFeaturesError: the rows lack features the model was trained on.
    """
    chosen = _chosen_version(registry, name, version)
    if settings.data is not None:
        if start is not None or end is not None:
            log.warning(
                "model %s: start/end are as-of dates of feature tables; %s is scored where its rows are "
                "new or changed", name, settings.data.table,
            )  # fmt: skip
        return score_table_rows(tables, config, run_id, name, settings, registry, chosen)
    inputs = read_model_inputs(tables, config, name, settings)
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
    existing = tables.read(table) if tables.exists(table) else None
    todo = not_yet_scored(spine, existing, keys, name, chosen.version)
    if todo.isEmpty():
        log.info("%s: nothing to score, %s v%d has scored every row asked for", table, name, chosen.version)
        return ScoringResult(name, chosen.version, table, (start, end), 0)
    rows = join_features(
        todo.withColumn(SCORE_TIME, F.col(as_of).cast("timestamp")), inputs.tables, entity, SCORE_TIME, None
    )
    check_features(rows, chosen.features, f"{name} v{chosen.version}", ", ".join(inputs.tables))
    written = _write_predictions(tables, config, run_id, name, settings, registry, chosen, rows, keys)
    log.info(
        "%s: %d rows scored by %s v%d from %s (as-of %s .. %s)",
        table, written, name, chosen.version, first_table, start, end,
    )  # fmt: skip
    return ScoringResult(name, chosen.version, table, (start, end), written)


def _write_predictions(
    tables: DeltaStore,
    config: LakehouseConfig,
    run_id: str,
    name: str,
    settings: ModelSettings,
    registry: ModelRegistry,
    chosen: ModelVersion,
    rows: DataFrame,
    keys: list[str],
) -> int:
    """Score ``rows`` with ``chosen`` and upsert them by key and model version, with the labels of
    the problem it was trained on; rows written."""
    problem = Problem.from_tags(chosen.tags, settings.task or "classification", settings.target)
    model = registry.load(chosen)
    threshold = chosen.metrics.get("test_threshold") if problem.kind == "binary" else None
    scored_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    predictions = predict(
        model,
        rows.select(*[F.col(f"`{c}`") for c in dict.fromkeys([*keys, *chosen.features])]),
        keys,
        problem,
        threshold,
        name,
        chosen.version,
        scored_at,
        settings.scorer,
    )
    table = predictions_table(name, settings)
    spec = predictions_spec(table, keys, predictions)
    merged = tables.merge(table, predictions, [*keys, "model_name", "model_version"], spec=spec)
    return int(merged.get("inserted", 0)) + int(merged.get("updated", 0))


def _changed_rows(
    tables: DeltaStore, source: str, keys: list[str], last: int | None, now: int, table: str
) -> DataFrame:
    """The rows of ``source`` at ``now``; after ``last``, only the current rows of the keys the
    changes since then touched."""
    rows = tables.read(source, version=now)
    if last is None:
        return rows
    try:
        changes = tables.changes(source, last, now)
    except ChangeFeedError as error:
        # the feed was off or vacuumed for some of those versions: every row again (the
        # predictions are upserted by key, so nothing is duplicated)
        log.warning("%s: %s; scoring every row of %s v%d", table, error, source, now)
        return rows
    changed = changes.select(*[F.col(f"`{k}`") for k in keys]).distinct()
    return rows.join(changed, keys, "left_semi")


def score_table_rows(
    tables: DeltaStore,
    config: LakehouseConfig,
    run_id: str,
    name: str,
    settings: ModelSettings,
    registry: ModelRegistry,
    chosen: ModelVersion,
) -> ScoringResult:
    """Score the rows of a table model's table that are new or changed since ``chosen`` last
    scored it (every row the first time), then record the table version read up to.

    Raises:
        TableNotFoundError: the table does not exist.
        MissingFeaturesError: the table lacks features the model was trained on.
    """
    data = settings.data
    assert data is not None
    source = data.table
    if not tables.exists(source):
        raise TableNotFoundError(f"models.models.{name}.data.table: {source} does not exist")
    keys = row_key(config, data)
    table = predictions_table(name, settings)
    progress = f"{table}#{name}.v{chosen.version}"
    last = last_source_version(tables.spark, tables.layout, progress, source)
    now = tables.version(source)
    if last is not None and last > now:
        log.warning(
            "%s: %s is at v%d, before the v%d last scored: the table was recreated; scoring every row",
            table, source, now, last,
        )  # fmt: skip
        last = None
    if last is None:
        if tables.enable_change_feed(source):  # so that the next run reads only the changes
            now = tables.version(source)
    elif last == now:
        log.info(
            "%s: nothing to score, %s v%d has scored %s up to v%d", table, name, chosen.version, source, now
        )
        return ScoringResult(name, chosen.version, table, (None, None), 0)
    rows = _changed_rows(tables, source, keys, last, now, table)
    if all(column in rows.columns for column in HISTORY_COLUMNS):
        rows = rows.where(F.col("is_current"))
    check_features(rows, chosen.features, f"{name} v{chosen.version}", source)
    written = _write_predictions(tables, config, run_id, name, settings, registry, chosen, rows, keys)
    record_source_version(tables.spark, tables.layout, progress, source, now, run_id)
    log.info(
        "%s: %d rows scored by %s v%d from %s (%s v%d)",
        table, written, name, chosen.version, source,
        "changes up to" if last is not None else "whole at", now,
    )  # fmt: skip
    return ScoringResult(name, chosen.version, table, (None, None), written)

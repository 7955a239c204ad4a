"""A model's labelled rows, ready to fit: read at pinned Delta versions, labelled, split, checked.

Two ways in, one result (:class:`TrainingData`):

- a **table model** (``data:`` in models.yml) trains straight from one table: each row is an
  example, its columns the features (numbers, booleans, strings as categories), split at random,
  stratified by class, by a time column, or by the user's fold column;
- a **model of labels** (``labels:`` and ``features:``) joins each label row point-in-time with
  the feature tables and splits by label time.

Either way the target becomes the learner's label (:mod:`lakehouse.models.problem`) and every
choice made on the user's behalf (a column dropped, rows without a target) becomes a note that
the training log and report show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.features import duration_days
from lakehouse.config.model import LakehouseConfig
from lakehouse.config.models import ModelDataSettings, ModelSettings
from lakehouse.errors import FeatureError, ModelError, TableNotFoundError, did_you_mean
from lakehouse.features.build import feature_table_name
from lakehouse.io.delta_store import DeltaStore
from lakehouse.models.dataset import SPLIT_COLUMN, join_features, split_by_time, with_split
from lakehouse.models.problem import (
    HISTORY_COLUMNS,
    LABEL_COLUMN,
    MAX_CLASSES,
    FeatureChoice,
    Problem,
    candidate_columns,
    choose_features,
    infer_problem,
    profile_expressions,
    with_label,
)
from lakehouse.models.splits import (
    split_by_column,
    split_by_time_column,
    split_randomly,
    split_stratified,
    time_bounds,
)


@dataclass
class ModelInputs:
    """The feature tables a model of labels reads, each at one Delta version."""

    tables: dict[str, tuple[DataFrame, str]]  # table -> (entity, as-of column, features; as-of column)
    features: list[str]
    data_versions: dict[str, int]


@dataclass
class TrainingData:
    """One model's labelled rows and what was decided about them.

    Attributes:
        rows: one row per example: the key (table model) or entity and time (labels), the
            features, ``_label`` (the class number or the value) and ``split``.
        features: the feature columns, in the model's order.
        categorical: the features LightGBM splits as categories.
        problem: binary, multiclass or regression, and the label mapping.
        data_versions: the Delta version of each table read.
        split: how the rows were split (method, shares, boundaries), for the record.
        notes: what was left out and why.
        as_of_columns: feature table -> its as-of column in ``rows`` (null: no feature row as of
            the label's time); empty for a table model.
        time_column: the labels' time column (models of labels), for the backfill hint.
    """

    rows: DataFrame
    features: list[str]
    categorical: list[str]
    problem: Problem
    data_versions: dict[str, int]
    split: dict[str, str]
    notes: list[str] = field(default_factory=list)
    as_of_columns: dict[str, str] = field(default_factory=dict)
    time_column: str | None = None

    @property
    def string_features(self) -> list[str]:
        """The features whose type is string (indexed into categories before the assembler)."""
        types = dict(self.rows.dtypes)
        return [name for name in self.features if types[name] == "string"]


def training_data(
    tables: DeltaStore, config: LakehouseConfig, name: str, settings: ModelSettings
) -> TrainingData:
    """The labelled rows of model ``name``, split (see the module docstring).

    Raises:
        TableNotFoundError: the table, the labels or a feature table is not built yet.
        ModelError: a column is missing, the target cannot be learned, a column leaks it, or
            a split setting does not fit the data.
    """
    if settings.data is not None:
        return table_training_data(tables, config, name, settings)
    return labelled_training_data(tables, config, name, settings)


def row_key(config: LakehouseConfig, data: ModelDataSettings) -> list[str]:
    """The columns identifying a row of a table model's table: ``data.key``, else the key of the
    silver table of silver.yml.

    Raises:
        ModelError: neither is there.
    """
    if data.key:
        return list(data.key)
    silver = config.silver.tables.get(data.table.removeprefix("silver."))
    if silver is None or not data.table.startswith("silver."):
        raise ModelError(
            f"data.key: {data.table} is not a silver table of silver.yml, whose key would be used; name "
            "the columns that identify a row"
        )
    return list(silver.key)


def _target_problem(frame: DataFrame, settings: ModelSettings, where: str) -> Problem:
    target = settings.target
    column = F.col(f"`{target}`")
    values = (
        frame.where(column.isNotNull())
        .select(column.alias("value"), column.cast("string").alias("text"))
        .distinct()
        .limit(MAX_CLASSES + 1)
        .collect()
    )
    positive = settings.data.positive if settings.data is not None else None
    return infer_problem(
        target,
        frame.schema[target].dataType,
        [(row[0], row[1]) for row in values],
        settings.task,
        positive,
        where,
    )


def table_training_data(
    tables: DeltaStore, config: LakehouseConfig, name: str, settings: ModelSettings
) -> TrainingData:
    """The rows of a table model's table, labelled, with its features chosen and split."""
    data = settings.data
    assert data is not None
    key_path = f"models.models.{name}.data"
    frame, version, key, notes = _model_table(tables, config, data, key_path)
    where = f"{key_path} ({data.table})"
    problem = _target_problem(frame, settings, where)
    target_type = frame.schema[data.target].dataType
    if problem.kind == "regression" and settings.task is None and isinstance(target_type, T.IntegralType):
        notes.append(
            f"{data.target} holds whole numbers: learned as a regression; declare task: classification "
            "to learn its values as classes"
        )
    candidates, type_notes = candidate_columns(
        frame.schema, data.target, key, data.features, data.exclude, key_path
    )
    notes += type_notes
    labelled = with_label(frame, problem)
    profile = labelled.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.col(LABEL_COLUMN)).alias("labelled"),
        *profile_expressions(candidates, LABEL_COLUMN),
    ).first()
    profile = profile.asDict() if profile is not None else {}
    unlabelled = int(profile.get("rows", 0)) - int(profile.get("labelled", 0))
    if unlabelled:
        notes.append(f"{unlabelled} rows without a {data.target} left out")
    labelled_rows = int(profile.get("labelled", 0))
    choice = choose_features(
        candidates, frame.schema, profile, labelled_rows, data.target, settings.categorical, [], where
    )
    notes += choice.notes
    labelled = labelled.where(F.col(LABEL_COLUMN).isNotNull())
    split, described = _split_table_rows(labelled, frame.columns, key, name, settings, problem, choice, notes)
    rows = split.select(
        *[F.col(f"`{c}`") for c in dict.fromkeys([*key, *choice.features])],
        F.col(LABEL_COLUMN),
        F.col(SPLIT_COLUMN),
        *([F.col(f"`{described['column']}`").alias("_split_source")] if "column" in described else []),
    )
    return TrainingData(
        rows, choice.features, choice.categorical, problem, {data.table: version}, described, notes
    )


def _model_table(
    tables: DeltaStore, config: LakehouseConfig, data: ModelDataSettings, key_path: str
) -> tuple[DataFrame, int, list[str], list[str]]:
    """The model's table at its latest version (current rows only when it keeps history), the
    version, the row key and notes; refused when the table or a named column is missing."""
    if not tables.exists(data.table):
        raise TableNotFoundError(
            f"{key_path}.table: {data.table} does not exist yet; build it first (e.g. `lakehouse run "
            "silver_refine`)"
        )
    version = tables.version(data.table)
    frame = tables.read(data.table, version=version)
    key = row_key(config, data)
    for field_name, columns in (("target", [data.target]), ("key", key), ("exclude", data.exclude)):
        for column in columns:
            if column not in frame.columns:
                raise ModelError(
                    f"{key_path}.{field_name}: {data.table} has no column {column!r}; "
                    f"{did_you_mean(column, frame.columns, 'columns')}"
                )
    notes: list[str] = []
    if all(column in frame.columns for column in HISTORY_COLUMNS):
        frame = frame.where(F.col("is_current"))
        notes.append(f"{data.table} keeps history (SCD2): its current rows are the examples")
    return frame, version, key, notes


def _split_table_rows(
    labelled: DataFrame,
    table_columns: list[str],
    key: list[str],
    name: str,
    settings: ModelSettings,
    problem: Problem,
    choice: FeatureChoice,
    notes: list[str],
) -> tuple[DataFrame, dict[str, str]]:
    """The labelled rows with their split, by ``models.<name>.split``, and how it was made; a
    split column stops being a feature (``choice`` and ``notes`` are updated)."""
    data, split_settings = settings.data, settings.split
    assert data is not None
    method = split_settings.method or ("random" if problem.kind == "regression" else "stratified")
    shares = {"validation": split_settings.validation, "test": split_settings.test}
    described = {"method": method, **{k: str(v) for k, v in shares.items()}}
    if method == "random":
        described["seed"] = str(split_settings.seed)
        return split_randomly(labelled, key, **shares, seed=split_settings.seed), described
    if method == "stratified":
        if problem.kind == "regression":
            raise ModelError(
                f"models.models.{name}.split.method: a stratified split needs classes; "
                f"{data.target!r} is a regression target (use random)"
            )
        described["seed"] = str(split_settings.seed)
        return split_stratified(labelled, LABEL_COLUMN, key, **shares, seed=split_settings.seed), described
    column = split_settings.column or ""
    if column not in table_columns:
        raise ModelError(
            f"models.models.{name}.split.column: {data.table} has no column {column!r}; "
            f"{did_you_mean(column, table_columns, 'columns')}"
        )
    if column in choice.features:
        choice.features.remove(column)
        choice.categorical = [c for c in choice.categorical if c != column]
        notes.append(f"column {column} is the split column, not a feature")
    described["column"] = column
    if method == "column":
        return split_by_column(labelled, column), described
    validation_from, test_from = time_bounds(labelled, column, **shares)
    described |= {"validation_from": str(validation_from), "test_from": str(test_from)}
    return split_by_time_column(labelled, column, validation_from, test_from), described


def read_model_inputs(
    tables: DeltaStore, config: LakehouseConfig, name: str, settings: ModelSettings
) -> ModelInputs:
    """Each feature table of a model of labels at its latest version, reduced to the features chosen.

    Raises:
        TableNotFoundError: a feature table is not built yet.
        FeatureError: a feature table lacks a chosen feature.
    """
    frames: dict[str, tuple[DataFrame, str]] = {}
    chosen: list[str] = []
    versions: dict[str, int] = {}
    for feature_table, features in settings.features.items():
        table_settings = config.features.tables[feature_table]
        table = feature_table_name(feature_table)
        if not tables.exists(table):
            raise TableNotFoundError(
                f"models.models.{name}.features: feature table {table} does not exist yet; "
                "run gold_features first"
            )
        versions[table] = tables.version(table)
        frame = tables.read(table, version=versions[table])
        names = list(table_settings.features) if features == "all" else list(features)
        missing = [
            c for c in [*table_settings.entity, table_settings.timestamp, *names] if c not in frame.columns
        ]
        if missing:
            raise FeatureError(f"models.models.{name}.features: {table} lacks columns {missing}")
        frames[table] = (
            frame.select(*table_settings.entity, table_settings.timestamp, *names),
            table_settings.timestamp,
        )
        chosen += names
    return ModelInputs(frames, chosen, versions)


def labelled_training_data(
    tables: DeltaStore, config: LakehouseConfig, name: str, settings: ModelSettings
) -> TrainingData:
    """The label rows of a model of labels joined point-in-time with its features, split by time."""
    labels = settings.labels
    assert labels is not None
    if not tables.exists(labels.table):
        raise TableNotFoundError(
            f"models.models.{name}.labels.table: {labels.table} does not exist yet; run gold_features first"
        )
    label_version = tables.version(labels.table)
    frame = tables.read(labels.table, version=label_version)
    needed = [*labels.entity, labels.time, labels.target]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ModelError(f"models.models.{name}.labels: {labels.table} lacks columns {missing}")
    label_rows = frame.select(*needed).where(F.col(f"`{labels.target}`").isNotNull())
    problem = _target_problem(label_rows, settings, f"models.models.{name}.labels ({labels.table})")
    inputs = read_model_inputs(tables, config, name, settings)
    inputs.data_versions[labels.table] = label_version
    max_age = dt.timedelta(days=duration_days(settings.max_age)) if settings.max_age else None
    joined = join_features(label_rows, inputs.tables, labels.entity, labels.time, max_age)
    times = [row[0] for row in label_rows.select(labels.time).distinct().collect()]
    split = split_by_time(times, settings.split.validation, settings.split.test)
    rows = with_label(with_split(joined, labels.time, split), problem).drop(f"{LABEL_COLUMN}_text")
    as_of = {table: f"{table.split('.')[-1]}_as_of" for table in inputs.tables}
    described = {
        "method": "time",
        **split.as_dict(),
        **{f"{s} times": str(n) for s, n in split.times.items()},
    }
    return TrainingData(
        rows,
        inputs.features,
        list(settings.categorical),
        problem,
        inputs.data_versions,
        described,
        [],
        as_of,
        labels.time,
    )

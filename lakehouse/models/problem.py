"""What a model predicts and from which columns: the problem a target makes, its label mapping,
and the features a table offers (pure, given the few figures that one Spark aggregate gives).

A target is a classification when it is a string or a boolean, or a number with exactly two
values; any other number is a regression. A declared ``task`` overrides the inference. Classes
are numbered in sorted order (false before true, smaller numbers first, labels alphabetically),
with the positive class of a binary target last, so that the score is its probability; the
mapping travels with the model, so that predictions carry the original labels.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.errors import ModelError

LABEL_COLUMN = "_label"
MAX_CLASSES = 100
# Columns of an SCD2 silver table: its history, never features (the current rows are used)
HISTORY_COLUMNS = ("valid_from", "valid_to", "is_current")
ProblemKind = Literal["binary", "multiclass", "regression"]


@dataclass(frozen=True)
class Problem:
    """What one model predicts.

    Attributes:
        kind: binary, multiclass or regression.
        target: the target column of the source table.
        classes: the text of each class, by class number (classification); the positive class
            of a binary problem is last.
    """

    kind: ProblemKind
    target: str
    classes: tuple[str, ...] = ()

    @property
    def task(self) -> str:
        """classification or regression (the learner's family)."""
        return "regression" if self.kind == "regression" else "classification"

    def as_tags(self) -> dict[str, str]:
        """The problem as registry tags, so that scoring maps class numbers back to labels."""
        return {"problem": self.kind, "target": self.target, "classes": json.dumps(list(self.classes))}

    @classmethod
    def from_tags(cls, tags: Mapping[str, str], default_task: str, target: str) -> Problem:
        """The problem a registered version was trained on (models of older versions: binary 0/1)."""
        kind = tags.get("problem") or ("regression" if default_task == "regression" else "binary")
        classes = tuple(json.loads(tags.get("classes", "[]"))) or (("0", "1") if kind == "binary" else ())
        return cls(kind, tags.get("target", target), classes)  # type: ignore[arg-type]

    def encoded(self, column: Column) -> Column:
        """``column`` as the learner's label: the class number (a double), or the value itself."""
        if self.kind == "regression":
            return column.cast("double")
        mapping = F.create_map(*[F.lit(v) for i, label in enumerate(self.classes) for v in (label, float(i))])
        return mapping[_as_text(column)]

    def decoded(self, column: Column) -> Column:
        """A class number back to the class's text (null for a regression)."""
        if self.kind == "regression":
            return F.lit(None).cast("string")
        labels = F.array(*[F.lit(label) for label in self.classes])
        return F.element_at(labels, column.cast("int") + 1)


def _as_text(column: Column) -> Column:
    return column.cast("string")


def _is_value(value: Any, text: str, wanted: Any) -> bool:
    """Whether a target value (and its Spark text) is the configured ``wanted`` one."""
    if isinstance(value, bool) or isinstance(wanted, bool):
        return text == str(wanted).lower()
    if isinstance(value, numbers.Number) and isinstance(wanted, numbers.Number):
        return value == wanted
    return text == str(wanted)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, numbers.Number) else (1, str(value))


def infer_problem(
    target: str,
    data_type: T.DataType,
    values: Sequence[tuple[Any, str]],
    declared_task: str | None,
    positive: Any = None,
    where: str = "",
) -> Problem:
    """The problem a target makes (see the module docstring).

    Args:
        target: the target column's name.
        data_type: its Spark type.
        values: its distinct non-null values as (value, Spark's text of it), at most
            ``MAX_CLASSES + 1`` of them.
        declared_task: ``task`` of models.yml, or None to infer.
        positive: the positive class of a binary target (``data.positive``), or None.
        where: the configuration key and table, for messages.

    Raises:
        ModelError: no labelled row; a regression of a non-numeric target; a classification of
            one class or of more than ``MAX_CLASSES`` classes; an unknown positive class.
    """
    numeric = isinstance(data_type, T.NumericType)
    if not isinstance(data_type, T.NumericType | T.BooleanType | T.StringType):
        raise ModelError(
            f"{where}: target {target!r} is of type {data_type.simpleString()}; a target is a number, "
            "a boolean or a string label"
        )
    if not values:
        raise ModelError(f"{where}: target {target!r} has no value in any row (every row is null)")
    if declared_task == "regression" and not numeric:
        raise ModelError(
            f"{where}: task regression needs a numeric target; {target!r} is "
            f"{data_type.simpleString()} (use task: classification, or leave task out)"
        )
    if declared_task == "regression" or (declared_task is None and numeric and len(values) > 2):
        return Problem("regression", target)
    if len(values) > MAX_CLASSES:
        raise ModelError(
            f"{where}: target {target!r} has more than {MAX_CLASSES} distinct values: too many classes "
            "for a classification (is it an identifier? for a number, use task: regression)"
        )
    if len(values) < 2:
        raise ModelError(
            f"{where}: target {target!r} has a single value ({values[0][1]!r}) in every labelled row: "
            "there is nothing to learn"
        )
    ordered = [text for _, text in sorted(values, key=lambda item: _sort_key(item[0]))]
    if positive is not None:
        if len(values) != 2:
            raise ModelError(
                f"{where}: data.positive is for a binary target; {target!r} has {len(values)} classes"
            )
        matches = [text for value, text in values if _is_value(value, text, positive)]
        if not matches:
            raise ModelError(f"{where}: data.positive {positive!r} is not a value of {target!r}: {ordered}")
        ordered = [text for text in ordered if text != matches[0]] + [matches[0]]
    return Problem("binary" if len(values) == 2 else "multiclass", target, tuple(ordered))


@dataclass
class FeatureChoice:
    """The features a table model uses, and what was left out and why."""

    features: list[str]
    categorical: list[str]
    notes: list[str] = field(default_factory=list)


def candidate_columns(
    schema: T.StructType,
    target: str,
    key: Sequence[str],
    features: Sequence[str] | str,
    exclude: Sequence[str],
    where: str = "data",
) -> tuple[list[str], list[str]]:
    """The columns that may be features, and notes on those skipped for their type.

    ``all``: every column but the target, the key, ``exclude``, the lakehouse's own columns
    (leading underscore) and an SCD2 table's history columns; columns of a type a learner
    cannot take (dates, timestamps, binaries, nested types) are skipped with a note. A list: its
    columns, each of a usable type.

    Raises:
        ModelError: a listed column is missing, of an unusable type, or the target or key.
    """
    types = {f.name: f.dataType for f in schema.fields}
    notes: list[str] = []
    if features == "all":
        left_out = {target, *key, *exclude, *HISTORY_COLUMNS}
        names = [name for name in types if name not in left_out and not name.startswith("_")]
        usable = []
        for name in names:
            if _usable(types[name]):
                usable.append(name)
            else:
                notes.append(
                    f"column {name} ({types[name].simpleString()}) skipped: a feature is a number, a "
                    "boolean or a string; derive a number from it (e.g. days since) to use it"
                )
        return usable, notes
    missing = [name for name in features if name not in types]
    if missing:
        raise ModelError(f"{where}.features: no columns {missing} in the table; columns: {list(types)}")
    clashing = [name for name in features if name in (target, *key)]
    if clashing:
        raise ModelError(f"{where}.features: {clashing} are the target or the key, never features")
    unusable = [f"{name} ({types[name].simpleString()})" for name in features if not _usable(types[name])]
    if unusable:
        raise ModelError(
            f"{where}.features: {', '.join(unusable)} cannot be features; a feature is a number, a "
            "boolean or a string"
        )
    return [name for name in features if name not in exclude], notes


def _usable(data_type: T.DataType) -> bool:
    return isinstance(data_type, T.NumericType | T.BooleanType | T.StringType)


def profile_expressions(columns: Sequence[str], label: str) -> list[Column]:
    """One aggregate's expressions per column, over the rows with a label only: non-null count,
    whether its non-null values are all one, and how many rows differ from the label (0: the
    column is the target under another name)."""
    labelled = F.col(label).isNotNull()
    expressions: list[Column] = []
    for index, name in enumerate(columns):
        column = F.when(labelled, F.col(f"`{name}`"))
        same_number = column.cast("double").eqNullSafe(F.col(label))
        same_text = _as_text(column).eqNullSafe(F.col(f"`{label}_text`"))
        expressions += [
            F.count(column).alias(f"n{index}"),
            (F.min(column) == F.max(column)).alias(f"c{index}"),
            F.sum(F.when(labelled & same_number, 0).when(labelled, 1)).alias(f"d{index}"),
            F.sum(F.when(labelled & same_text, 0).when(labelled, 1)).alias(f"t{index}"),
        ]
    return expressions


def choose_features(
    columns: Sequence[str],
    schema: T.StructType,
    profile: Mapping[str, Any],
    rows: int,
    target: str,
    categorical: Sequence[str],
    notes: Sequence[str] = (),
    where: str = "data",
) -> FeatureChoice:
    """The features kept from the profile of :func:`profile_expressions` (pure).

    All-null and constant columns are dropped with a note; string columns are categorical.

    Raises:
        ModelError: a column equals the target on every row (a leak), or no feature is left.
    """
    types = {f.name: f.dataType for f in schema.fields}
    kept: list[str] = []
    notes = list(notes)
    for index, name in enumerate(columns):
        if rows and (profile[f"d{index}"] == 0 or profile[f"t{index}"] == 0):
            raise ModelError(
                f"{where}: column {name!r} equals the target {target!r} on every row: it would leak the "
                "answer; add it to data.exclude"
            )
        if profile[f"n{index}"] == 0:
            notes.append(f"column {name} dropped: null in every row")
        elif profile[f"c{index}"] and profile[f"n{index}"] == rows:  # a value or null tells something
            notes.append(f"column {name} dropped: the same value in every row")
        else:
            kept.append(name)
    if not kept:
        raise ModelError(
            f"{where}: no feature left to learn {target!r} from: {'; '.join(notes) or 'no column'}"
        )
    strings = [name for name in kept if isinstance(types[name], T.StringType)]
    chosen_categorical = [name for name in kept if name in categorical or name in strings]
    return FeatureChoice(kept, chosen_categorical, notes)


def with_label(frame: DataFrame, problem: Problem) -> DataFrame:
    """``frame`` with the learner's label column (see :meth:`Problem.encoded`) and the target's text."""
    target = F.col(f"`{problem.target}`")
    return frame.withColumn(LABEL_COLUMN, problem.encoded(target)).withColumn(
        f"{LABEL_COLUMN}_text", _as_text(target)
    )

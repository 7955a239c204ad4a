"""The expectation kinds: what each reads, how it judges a row (the kinds that judge rows), and the
great-expectations check it becomes. Each kind is one class, and :data:`KINDS` lists them: a new
kind is one class here and one line there; loading, checking, quarantining and reporting take it
from the class.

Row kinds (``row_level``) are also written as Spark predicates with great-expectations' semantics
(a null value fails only ``not_null``; ``unique`` flags every row of a duplicated key), so that
quarantine knows *which* rows fail at any scale; a kind judged against other rows (``unique``,
``references``) first adds a decision column (:meth:`Expectation.decide`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.sources import is_column_type

Severity = Literal["warn", "drop", "fail"]
DECISION_PREFIX = "_decided_"
DURATION = re.compile(r"^(\d+)\s*([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def quoted(name: str) -> Column:
    return F.col(f"`{name}`")


@dataclass(frozen=True)
class GxContext:
    """What an expectation may need to become a great-expectations check."""

    previous_rows: int | None  # the row count of the last validated run
    views: Mapping[str, str]  # referenced table -> the temporary view holding it
    now: dt.datetime  # what freshness is measured against
    columns: Sequence[str]  # the validated frame's columns


@dataclass(frozen=True)
class GxFinding:
    """What GX found for one expectation, as an expectation may correct it (:meth:`Expectation.review`)."""

    success: bool
    observed: Any
    unexpected: int | None


class Expectation(BaseModel):
    """One expectation of a table; a subclass per kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    row_level: ClassVar[bool] = False  # judges single rows: may drop them to quarantine
    decides: ClassVar[bool] = False  # judged against other rows, through a decision column
    needs_previous_rows: ClassVar[bool] = False  # compares with the last validated run
    shows_values: ClassVar[bool] = True  # its failing rows have values worth sampling

    kind: str
    name: str | None = Field(None, description="shown in results and quarantine; default: <kind>_<column>")
    severity: Severity = "warn"
    description: str | None = None

    def columns(self) -> tuple[str, ...]:
        """The columns of the table this expectation reads."""
        return ()

    @property
    def label(self) -> str:
        return self.name or "_".join([self.kind, *self.columns()])

    def referenced(self) -> str | None:
        """The other table this expectation reads (``references``), if any."""
        return None

    def failing(self) -> Column:
        """True where a row fails this expectation (row kinds only)."""
        raise TypeError(f"{type(self).__name__} does not judge single rows")

    def decide(self, frame: DataFrame, references: Mapping[str, DataFrame]) -> DataFrame:
        """``frame`` with what judging a row needs from other rows (a kind that ``decides``)."""
        return frame

    def sample_value(self) -> Column:
        """What a failing row shows in a sample: its value of the expectation's column as text."""
        return quoted(self.columns()[0]).cast("string")

    def gx(self, context: GxContext) -> Any:
        """The great-expectations check of this expectation (None: nothing to check yet)."""
        raise NotImplementedError(f"{type(self).__name__}: no great-expectations check")

    def review(self, frame: DataFrame, finding: GxFinding, decided: bool) -> GxFinding:
        """GX's finding, corrected where GX cannot tell the whole story (default: as it is)."""
        return finding


def decision_column(expectation: Expectation) -> str:
    """The column :meth:`Expectation.decide` adds: true where the row's key is duplicated, or where
    its (non-null) reference is not found; null otherwise."""
    return f"{DECISION_PREFIX}{expectation.label}"


def _gx():
    import great_expectations.expectations as gxe

    return gxe


class _OneColumn(Expectation):
    column: str

    def columns(self) -> tuple[str, ...]:
        return (self.column,)


class NotNull(_OneColumn):
    row_level: ClassVar[bool] = True
    shows_values: ClassVar[bool] = False  # only nulls to show
    kind: Literal["not_null"]

    def failing(self) -> Column:
        return quoted(self.column).isNull()

    def gx(self, context: GxContext) -> Any:
        return _gx().ExpectColumnValuesToNotBeNull(column=self.column)


class IsNull(_OneColumn):
    """The column is null on every row (e.g. ``_corrupt_record``: no line failed to parse)."""

    row_level: ClassVar[bool] = True
    kind: Literal["is_null"]

    def failing(self) -> Column:
        return quoted(self.column).isNotNull()

    def gx(self, context: GxContext) -> Any:
        return _gx().ExpectColumnValuesToBeNull(column=self.column)


class Unique(Expectation):
    row_level: ClassVar[bool] = True
    decides: ClassVar[bool] = True
    kind: Literal["unique"]
    columns_: tuple[str, ...] = Field(alias="columns", min_length=1)

    def columns(self) -> tuple[str, ...]:
        return self.columns_

    def failing(self) -> Column:
        return F.col(decision_column(self)).isNotNull()

    def decide(self, frame: DataFrame, references: Mapping[str, DataFrame]) -> DataFrame:
        """Each key's rows counted in a window: one shuffle of the rows, with no join and no size
        limit on the duplicated keys. Like great-expectations, a key whose columns are all null
        is not judged (nulls in part of a key compare equal); those rows are spread over the
        partitions by a hash of their values instead of all meeting in one."""
        key = list(self.columns())
        judged = F.lit(False)
        for name in key:
            judged = judged | quoted(name).isNotNull()
        hashable = [
            quoted(f.name)
            for f in frame.schema.fields
            if not isinstance(f.dataType, T.MapType | T.ArrayType | T.StructType | T.BinaryType)
        ]
        spread = F.when(~judged, F.xxhash64(*hashable) if hashable else F.lit(0)).otherwise(F.lit(0))
        rows = F.count(F.lit(1)).over(Window.partitionBy(*[quoted(name) for name in key], spread))
        return frame.withColumn(decision_column(self), F.when(judged & (rows > 1), F.lit(True)))

    def sample_value(self) -> Column:
        return F.concat_ws(", ", *[quoted(name).cast("string") for name in self.columns()])

    def gx(self, context: GxContext) -> Any:
        columns = list(self.columns())
        if len(columns) == 1:
            return _gx().ExpectColumnValuesToBeUnique(column=columns[0])
        return _gx().ExpectCompoundColumnsToBeUnique(column_list=columns)


class InSet(_OneColumn):
    row_level: ClassVar[bool] = True
    kind: Literal["in_set"]
    values: tuple[Any, ...] = Field(min_length=1)

    def failing(self) -> Column:
        column = quoted(self.column)
        return column.isNotNull() & ~column.isin(list(self.values))

    def gx(self, context: GxContext) -> Any:
        return _gx().ExpectColumnValuesToBeInSet(column=self.column, value_set=list(self.values))


class Between(_OneColumn):
    row_level: ClassVar[bool] = True
    kind: Literal["between"]
    min: float | dt.date | dt.datetime | None = None
    max: float | dt.date | dt.datetime | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Between:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self

    def failing(self) -> Column:
        column = quoted(self.column)
        outside = F.lit(False)
        if self.min is not None:
            outside = outside | (column < F.lit(self.min))
        if self.max is not None:
            outside = outside | (column > F.lit(self.max))
        return column.isNotNull() & outside

    def gx(self, context: GxContext) -> Any:
        return _gx().ExpectColumnValuesToBeBetween(column=self.column, min_value=self.min, max_value=self.max)


class Regex(_OneColumn):
    row_level: ClassVar[bool] = True
    kind: Literal["regex"]
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return pattern

    def failing(self) -> Column:
        column = quoted(self.column)
        return column.isNotNull() & ~column.cast("string").rlike(self.pattern)

    def gx(self, context: GxContext) -> Any:
        return _gx().ExpectColumnValuesToMatchRegex(column=self.column, regex=self.pattern)


class References(_OneColumn):
    """Referential integrity: every non-null ``column`` value exists in ``table``.``to``."""

    row_level: ClassVar[bool] = True
    decides: ClassVar[bool] = True
    kind: Literal["references"]
    table: str = Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
    to: str

    def referenced(self) -> str | None:
        return self.table

    def failing(self) -> Column:
        return F.col(decision_column(self)).isNotNull()

    def decide(self, frame: DataFrame, references: Mapping[str, DataFrame]) -> DataFrame:
        """One left join to the distinct non-null keys of the referenced table (broadcast by Spark
        when they are small)."""
        if self.table not in references:
            raise KeyError(f"expectation {self.label} needs table {self.table}")
        keys = (
            references[self.table]
            .select(quoted(self.to).alias("_ref_key"))
            .where("_ref_key IS NOT NULL")
            .distinct()
            .withColumn("_ref_found", F.lit(True))
        )
        joined = frame.join(keys, quoted(self.column) == F.col("_ref_key"), "left")
        missing = quoted(self.column).isNotNull() & F.col("_ref_found").isNull()
        return joined.withColumn(decision_column(self), F.when(missing, F.lit(True))).drop(
            "_ref_key", "_ref_found"
        )

    def gx(self, context: GxContext) -> Any:
        query = (
            f"SELECT b.* FROM {{batch}} b LEFT ANTI JOIN {context.views[self.table]} r "
            f"ON b.`{self.column}` = r.`{self.to}` WHERE b.`{self.column}` IS NOT NULL"
        )
        return _gx().UnexpectedRowsExpectation(
            unexpected_rows_query=query, description=f"{self.column} references {self.table}.{self.to}"
        )

    def review(self, frame: DataFrame, finding: GxFinding, decided: bool) -> GxFinding:
        """GX's query reports the rows it found as its observed value, not as unexpected rows."""
        if decided:
            return finding
        return GxFinding(finding.success, finding.observed, int(finding.observed or 0))


class RowCountChange(Expectation):
    """Row count within ``[min_ratio, max_ratio]`` times the count of the last validated run."""

    needs_previous_rows: ClassVar[bool] = True
    kind: Literal["row_count_change"]
    min_ratio: float = Field(0.0, ge=0)
    max_ratio: float | None = Field(None, gt=0)

    def gx(self, context: GxContext) -> Any:
        if context.previous_rows is None:
            return None
        rows = context.previous_rows
        upper = None if self.max_ratio is None else int(rows * self.max_ratio)
        return _gx().ExpectTableRowCountToBeBetween(min_value=int(rows * self.min_ratio), max_value=upper)


class Schema(Expectation):
    """The frame has exactly these columns, with these Spark SQL types."""

    kind: Literal["schema"]
    columns_: dict[str, str] = Field(alias="columns", min_length=1)

    @field_validator("columns_")
    @classmethod
    def _types(cls, columns: dict[str, str]) -> dict[str, str]:
        unknown = [f"{name}: {kind}" for name, kind in columns.items() if not is_column_type(kind)]
        if unknown:
            raise ValueError(f"unknown column types ({', '.join(unknown)})")
        return columns

    def columns(self) -> tuple[str, ...]:
        return tuple(self.columns_)

    @property
    def label(self) -> str:
        return self.name or "schema"

    def gx(self, context: GxContext) -> Any:
        internal = [c for c in context.columns if c.startswith(DECISION_PREFIX)]
        return _gx().ExpectTableColumnsToMatchSet(column_set=[*self.columns(), *internal], exact_match=True)

    def review(self, frame: DataFrame, finding: GxFinding, decided: bool) -> GxFinding:
        """GX compares the column names; the declared types are compared here, from the schema."""
        from lakehouse.ingest.schema import data_type

        actual = {field.name: field.dataType for field in frame.schema.fields}
        differing = [
            f"{name}: {actual[name].simpleString()} (declared {kind})"
            for name, kind in self.columns_.items()
            if name in actual and actual[name] != data_type(kind)
        ]
        if not differing:
            return finding
        return GxFinding(
            False, f"{finding.observed}; types differ: {', '.join(differing)}", finding.unexpected
        )


class Freshness(_OneColumn):
    """The newest ``column`` value is no older than ``max_age`` (``90m``, ``36h``, ``2d``)."""

    kind: Literal["freshness"]
    max_age: str

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not DURATION.match(value.strip()):
            raise ValueError(f"not a duration like 90m, 36h or 2d: {value!r}")
        return value.strip()

    @property
    def max_age_delta(self) -> dt.timedelta:
        amount, unit = DURATION.match(self.max_age).groups()  # type: ignore[union-attr]
        return dt.timedelta(**{UNITS[unit]: int(amount)})

    def gx(self, context: GxContext) -> Any:
        return _gx().ExpectColumnMaxToBeBetween(
            column=self.column, min_value=context.now - self.max_age_delta
        )


# every kind, by the name a quality file gives it
KINDS: dict[str, type[Expectation]] = {
    kind.model_fields["kind"].annotation.__args__[0]: kind  # type: ignore[union-attr]
    for kind in (
        NotNull,
        IsNull,
        Unique,
        InSet,
        Between,
        Regex,
        References,
        RowCountChange,
        Schema,
        Freshness,
    )
}

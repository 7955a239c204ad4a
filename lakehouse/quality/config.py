"""Expectations per table, declared in ``conf/<env>/quality/<layer>.<table>.yml``.

A file holds one table's expectations, each with a ``kind``, its arguments and a severity::

    expectations:
      - kind: not_null
        column: order_id
        severity: drop

Kinds that judge single rows (``not_null``, ``is_null``, ``unique``, ``in_set``, ``between``, ``regex``,
``references``) may have any severity; kinds that judge the table as a whole
(``row_count_change``, ``schema``, ``freshness``) have no row to quarantine, so ``drop`` is refused.
A misspelled kind, key or column fails at load time with the file and the key at fault.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lakehouse.config.model import is_column_type
from lakehouse.errors import ConfigError

Severity = Literal["warn", "drop", "fail"]
ROW_KINDS = frozenset({"not_null", "is_null", "unique", "in_set", "between", "regex", "references"})
DURATION = re.compile(r"^(\d+)\s*([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class _Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, description="shown in results and quarantine; default: <kind>_<column>")
    severity: Severity = "warn"
    description: str | None = None

    def columns(self) -> tuple[str, ...]:
        """The columns of the table this expectation reads."""
        return ()

    @property
    def label(self) -> str:
        return self.name or "_".join([self.kind, *self.columns()])  # type: ignore[attr-defined]


class NotNull(_Expectation):
    kind: Literal["not_null"]
    column: str

    def columns(self) -> tuple[str, ...]:
        return (self.column,)


class IsNull(_Expectation):
    """The column is null on every row (e.g. ``_corrupt_record``: no line failed to parse)."""

    kind: Literal["is_null"]
    column: str

    def columns(self) -> tuple[str, ...]:
        return (self.column,)


class Unique(_Expectation):
    kind: Literal["unique"]
    columns_: tuple[str, ...] = Field(alias="columns", min_length=1)

    def columns(self) -> tuple[str, ...]:
        return self.columns_


class InSet(_Expectation):
    kind: Literal["in_set"]
    column: str
    values: tuple[Any, ...] = Field(min_length=1)

    def columns(self) -> tuple[str, ...]:
        return (self.column,)


class Between(_Expectation):
    kind: Literal["between"]
    column: str
    min: float | dt.date | dt.datetime | None = None
    max: float | dt.date | dt.datetime | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Between:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self

    def columns(self) -> tuple[str, ...]:
        return (self.column,)


class Regex(_Expectation):
    kind: Literal["regex"]
    column: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return pattern

    def columns(self) -> tuple[str, ...]:
        return (self.column,)


class References(_Expectation):
    """Referential integrity: every non-null ``column`` value exists in ``table``.``to``."""

    kind: Literal["references"]
    column: str
    table: str = Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
    to: str

    def columns(self) -> tuple[str, ...]:
        return (self.column,)


class RowCountChange(_Expectation):
    """Row count within ``[min_ratio, max_ratio]`` times the count of the last validated run."""

    kind: Literal["row_count_change"]
    min_ratio: float = Field(0.0, ge=0)
    max_ratio: float | None = Field(None, gt=0)


class Schema(_Expectation):
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


class Freshness(_Expectation):
    """The newest ``column`` value is no older than ``max_age`` (``90m``, ``36h``, ``2d``)."""

    kind: Literal["freshness"]
    column: str
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

    def columns(self) -> tuple[str, ...]:
        return (self.column,)


Expectation = Annotated[
    NotNull | IsNull | Unique | InSet | Between | Regex | References | RowCountChange | Schema | Freshness,
    Field(discriminator="kind"),
]
KINDS = (
    "not_null",
    "is_null",
    "unique",
    "in_set",
    "between",
    "regex",
    "references",
    "row_count_change",
    "schema",
    "freshness",
)


class QualitySuite(BaseModel):
    """The expectations of one table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    expectations: tuple[Expectation, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> QualitySuite:
        seen: set[str] = set()
        for index, expectation in enumerate(self.expectations):
            if expectation.severity == "drop" and expectation.kind not in ROW_KINDS:
                raise ValueError(
                    f"expectations.{index}.severity: {expectation.kind} judges the whole table, "
                    "so it has no rows to drop: use warn or fail"
                )
            if expectation.label in seen:
                raise ValueError(f"expectations.{index}.name: {expectation.label!r} is used twice")
            seen.add(expectation.label)
        return self

    def row_expectations(self) -> list[Any]:
        return [e for e in self.expectations if e.kind in ROW_KINDS]

    def check_columns(self, columns: Iterable[str], source: str) -> None:
        """Fail, naming the file and key, when an expectation names a column the table lacks."""
        known = list(columns)
        problems = []
        for index, expectation in enumerate(self.expectations):
            if expectation.kind == "schema":
                continue  # a schema expectation states the columns; a difference is its finding
            for column in expectation.columns():
                if column not in known:
                    hint = difflib.get_close_matches(column, known, n=1)
                    problems.append(
                        f"{source}: expectations.{index}.column: {self.table} has no column {column!r}"
                        + (f" (did you mean {hint[0]!r}?)" if hint else "")
                    )
        if problems:
            raise ConfigError(problems)


def load_suite(path: str | Path) -> QualitySuite:
    """Read one quality file; its name (without ``.yml``) is the table, e.g. ``silver.orders``."""
    path = Path(path)
    table = path.name.removesuffix(".yml").removesuffix(".yaml")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}: expected a mapping with an `expectations` list")
    try:
        return QualitySuite(table=table, **document)
    except ValidationError as error:
        raise ConfigError([f"{path}: {_describe(item)}" for item in error.errors()]) from None
    except TypeError as error:
        raise ConfigError(f"{path}: {error}") from None


def load_suites(folder: str | Path) -> dict[str, tuple[QualitySuite, Path]]:
    """Every quality file of a folder (``conf/<env>/quality``), by table name."""
    folder = Path(folder)
    suites: dict[str, tuple[QualitySuite, Path]] = {}
    for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
        suite = load_suite(path)
        suites[suite.table] = (suite, path)
    return suites


def _describe(item: Mapping[str, Any]) -> str:
    """One pydantic problem as ``<key.path>: <what is wrong>``, with a hint for unknown names."""
    location = [str(part) for part in item["loc"]]
    # a discriminated union puts the kind into the path: expectations.0.not_null.column
    location = [part for index, part in enumerate(location) if not (index == 2 and part in KINDS)]
    key = ".".join(location)
    message = str(item["msg"]).removeprefix("Value error, ")
    if item["type"] == "union_tag_invalid":
        given = item.get("input", {}).get("kind") if isinstance(item.get("input"), Mapping) else None
        hint = difflib.get_close_matches(str(given), KINDS, n=1)
        return f"{key}.kind: unknown expectation kind {given!r}" + (
            f" (did you mean {hint[0]!r}?)" if hint else f"; known: {', '.join(KINDS)}"
        )
    if item["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    return f"{key}: {message}" if key else message


def load_environment_suites(folders: Iterable[Path]) -> dict[str, tuple[QualitySuite, Path]]:
    """The suites of ``conf/base/quality`` with those of ``conf/<env>/quality`` on top: an
    environment's file replaces the base file of the same table."""
    suites: dict[str, tuple[QualitySuite, Path]] = {}
    for folder in folders:
        suites.update(load_suites(folder))
    return suites

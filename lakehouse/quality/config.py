"""Expectations per table, declared in ``conf/<env>/quality/<layer>.<table>.yml``.

A file holds one table's expectations, each with a ``kind``, its arguments and a severity::

    expectations:
      - kind: not_null
        column: order_id
        severity: drop

The kinds are the classes of :mod:`lakehouse.quality.kinds`. Kinds that judge single rows
(``not_null``, ``is_null``, ``unique``, ``in_set``, ``between``, ``regex``, ``references``) may have
any severity; kinds that judge the table as a whole (``row_count_change``, ``schema``,
``freshness``) have no row to quarantine, so ``drop`` is refused. A misspelled kind, key or column
fails at load time with the file and the key at fault.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lakehouse.errors import ConfigError
from lakehouse.quality.kinds import KINDS, Expectation

# a quality file's expectation: the kind named by its ``kind`` (lakehouse.quality.kinds)
AnyExpectation = Annotated[Union[tuple(KINDS.values())], Field(discriminator="kind")]  # noqa: UP007


class QualitySuite(BaseModel):
    """The expectations of one table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    expectations: tuple[AnyExpectation, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> QualitySuite:
        seen: set[str] = set()
        for index, expectation in enumerate(self.expectations):
            if expectation.severity == "drop" and not expectation.row_level:
                raise ValueError(
                    f"expectations.{index}.severity: {expectation.kind} judges the whole table, "
                    "so it has no rows to drop: use warn or fail"
                )
            if expectation.label in seen:
                raise ValueError(f"expectations.{index}.name: {expectation.label!r} is used twice")
            seen.add(expectation.label)
        return self

    def row_expectations(self) -> list[Expectation]:
        return [e for e in self.expectations if e.row_level]

    def check_columns(self, columns: Iterable[str], source: str) -> None:
        """Fail, naming the file and key, when an expectation names a column the table lacks."""
        known = list(columns)
        problems = []
        for index, expectation in enumerate(self.expectations):
            if expectation.kind == "schema":  # it states the columns; a difference is its finding
                continue
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

"""Metadata filters of a vector search, the same for exact (Spark) and approximate (the index's rows).

A filter is ``column op value``: ``channel=email``, ``product_id=7,8`` (any of), ``created_at>=2026-01-03``,
``price<50``; in Python also ``{"channel": "email", "product_id": [7, 8],
"created_at": {">=": "2026-01-03", "<": "2026-01-05"}}``. Every condition must hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F

from lakehouse.errors import VectorSearchError

OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in")
_TEXT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|<=|>=|=|<|>)\s*(.*?)\s*$")

Filters = Mapping[str, Any] | Sequence[str] | None


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: Any  # a tuple for "in"


def parse(filters: Filters) -> list[Condition]:
    """Conditions from ``column op value`` strings or a mapping (see the module's doc).

    Raises:
        VectorSearchError: a filter that is not ``column op value``.
    """
    if not filters:
        return []
    if isinstance(filters, Mapping):
        return [condition for column, value in filters.items() for condition in _from_mapping(column, value)]
    conditions = []
    for text in filters:
        match = _TEXT.match(text)
        if match is None or not match.group(3):
            raise VectorSearchError(
                f"filter {text!r}: expected column<op>value with op one of = != < <= > >= "
                "(e.g. channel=email, created_at>=2026-01-03, product_id=7,8)"
            )
        column, op, value = match.groups()
        values = tuple(part.strip() for part in value.split(","))
        if op == "=" and len(values) > 1:
            conditions.append(Condition(column, "in", values))
        else:
            conditions.append(Condition(column, op, value))
    return conditions


def _from_mapping(column: str, value: Any) -> Iterable[Condition]:
    if isinstance(value, Mapping):
        for op, bound in value.items():
            if op not in OPERATORS:
                raise VectorSearchError(
                    f"filter on {column}: unknown operator {op!r}; use one of {OPERATORS}"
                )
            yield Condition(column, op, tuple(bound) if op == "in" else bound)
    elif isinstance(value, list | tuple | set | frozenset):
        yield Condition(column, "in", tuple(value))
    else:
        yield Condition(column, "=", value)


def check_columns(conditions: list[Condition], columns: Sequence[str], table: str) -> None:
    """Raises VectorSearchError naming a filtered column that ``table`` does not have."""
    unknown = sorted({c.column for c in conditions} - set(columns))
    if unknown:
        raise VectorSearchError(
            f"filter on {unknown}: not columns of {table}; filterable: {', '.join(columns)}"
        )


def to_column(conditions: list[Condition]) -> Column | None:
    """The conditions as one Spark predicate (None without conditions)."""
    predicate = None
    for condition in conditions:
        column = F.col(condition.column)
        if condition.op == "in":
            term = column.isin(list(condition.value))
        else:
            term = {
                "=": column == condition.value,
                "!=": column != condition.value,
                "<": column < condition.value,
                "<=": column <= condition.value,
                ">": column > condition.value,
                ">=": column >= condition.value,
            }[condition.op]
        predicate = term if predicate is None else predicate & term
    return predicate


def to_mask(conditions: list[Condition], rows: pd.DataFrame) -> np.ndarray:
    """The rows (of an index's metadata) for which every condition holds, as a boolean array."""
    mask = np.ones(len(rows), dtype=bool)
    for condition in conditions:
        series = rows[condition.column]
        if condition.op == "in":
            mask &= series.isin([_like(series, value) for value in condition.value]).to_numpy()
            continue
        value = _like(series, condition.value)
        compared = {
            "=": series == value,
            "!=": series != value,
            "<": series < value,
            "<=": series <= value,
            ">": series > value,
            ">=": series >= value,
        }[condition.op]
        mask &= compared.fillna(False).to_numpy(dtype=bool)
    return mask


def _like(series: pd.Series, value: Any) -> Any:
    """``value`` (often a string from the command line) in the type of ``series``."""
    try:
        if pd.api.types.is_datetime64_any_dtype(series):
            return pd.Timestamp(value)
        if pd.api.types.is_bool_dtype(series):
            return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
        if pd.api.types.is_numeric_dtype(series):
            return float(value)
    except (TypeError, ValueError) as error:
        raise VectorSearchError(
            f"filter on {series.name}: {value!r} is not a {series.dtype} value"
        ) from error
    return value

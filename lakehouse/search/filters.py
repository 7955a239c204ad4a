"""Metadata filters of a vector search, the same for exact (Spark) and approximate (the index's rows).

A filter is ``column op value``: ``channel=email``, ``product_id=7,8`` (any of), ``created_at>=2026-01-03``,
``price<50``; in Python also ``{"channel": "email", "product_id": [7, 8],
"created_at": {">=": "2026-01-03", "<": "2026-01-05"}}``. Every condition must hold.

Both search paths (exact in Spark, the index's rows in pandas) compare the same values: before
either runs, :func:`typed` converts each value to its column's type, by the same rules, and a value
that does not convert is a :class:`FilterValueError` naming the column, its type and the value.
A value converts only when nothing is lost: ``"7"`` or ``7.0`` for an integer column, but not
``"7.5"`` or ``"seven"``; ``"2026-01-03"`` for a date, but not ``"2026-01-03 10:00"``; a time with a
zone offset for a timestamp is taken in the session's time zone, as Spark shows timestamps.
"""

from __future__ import annotations

import datetime as dt
import decimal
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.errors import FilterValueError, VectorSearchError

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


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_COMPARISONS = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_LONG = (-(2**63), 2**63 - 1)


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    number = decimal.Decimal(value.strip() if isinstance(value, str) else str(value))
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError
    whole = int(number)
    if not _LONG[0] <= whole <= _LONG[1]:
        raise ValueError
    return whole


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError
    number = float(value.strip() if isinstance(value, str) else value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal | dt.date):
        raise ValueError
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValueError
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value.strip())


def _timestamp(time_zone: str) -> Callable[[Any], dt.datetime]:
    def convert(value: Any) -> dt.datetime:
        if isinstance(value, str):
            text = value.strip()
            value = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time())
        elif not isinstance(value, dt.datetime):
            raise ValueError
        # local times of the session's zone: as Spark shows timestamps, and as the index keeps them
        return value.astimezone(ZoneInfo(time_zone)).replace(tzinfo=None) if value.tzinfo else value

    return convert


def _converter(kind: T.DataType, time_zone: str) -> Callable[[Any], Any] | None:
    if isinstance(kind, T.ByteType | T.ShortType | T.IntegerType | T.LongType):
        return _integer
    if isinstance(kind, T.FloatType | T.DoubleType | T.DecimalType):
        return _number  # decimals compare as doubles on both paths (the index keeps them as floats)
    if isinstance(kind, T.BooleanType):
        return _boolean
    if isinstance(kind, T.StringType):
        return _text
    if isinstance(kind, T.DateType):
        return _date
    if isinstance(kind, T.TimestampType | T.TimestampNTZType):
        return _timestamp(time_zone)
    return None


def typed(conditions: list[Condition], schema: T.StructType, time_zone: str, table: str) -> list[Condition]:
    """The conditions with each value converted to its column's type (see the module's doc).

    Args:
        conditions: parsed conditions on columns of ``schema`` (:func:`check_columns`).
        schema: the embedding table's schema.
        time_zone: the session's time zone (``spark.sql.session.timeZone``).
        table: the table's name, for messages.

    Returns:
        The same conditions, their values of the columns' types (a tuple of them for ``in``).

    Raises:
        FilterValueError: a value that does not convert losslessly, or a column of a type that
            filters do not compare (arrays, maps, structs).
    """
    converted = []
    for condition in conditions:
        kind = schema[condition.column].dataType
        convert = _converter(kind, time_zone)
        values = condition.value if condition.op == "in" else (condition.value,)
        try:
            if convert is None:
                raise ValueError
            done = tuple(convert(value) for value in values)
        except (TypeError, ValueError, decimal.InvalidOperation, AttributeError):
            bad = next((v for v in values if not _converts(convert, v)), values[0] if values else None)
            raise FilterValueError(table, condition.column, kind.simpleString(), bad) from None
        converted.append(replace(condition, value=done if condition.op == "in" else done[0]))
    return converted


def _converts(convert: Callable[[Any], Any] | None, value: Any) -> bool:
    if convert is None:
        return False
    try:
        convert(value)
    except (TypeError, ValueError, decimal.InvalidOperation, AttributeError):
        return False
    return True


def _literal(value: Any) -> Column:
    """A typed value as a Spark literal; a timestamp as its text, read in the session's time zone
    (a Python datetime would be read in the process's zone)."""
    if isinstance(value, dt.datetime):
        return F.lit(value.isoformat(sep=" ")).cast(T.TimestampType())
    return F.lit(value)


def to_column(conditions: list[Condition]) -> Column | None:
    """The conditions (values converted by :func:`typed`) as one Spark predicate (None without
    conditions)."""
    predicate = None
    for condition in conditions:
        column = F.col(condition.column)
        if condition.op == "in":
            term = column.isin([_literal(value) for value in condition.value])
        else:
            term = _COMPARISONS[condition.op](column, _literal(condition.value))
        predicate = term if predicate is None else predicate & term
    return predicate


def to_mask(conditions: list[Condition], rows: pd.DataFrame) -> np.ndarray:
    """The rows (of an index's metadata) for which every condition (values converted by
    :func:`typed`) holds, as a boolean array. A null never matches, as in Spark SQL."""
    mask = np.ones(len(rows), dtype=bool)
    for condition in conditions:
        series = rows[condition.column]
        present = series.notna().to_numpy(dtype=bool)
        if condition.op == "in":
            mask &= present & series.isin([_like(series, value) for value in condition.value]).to_numpy()
            continue
        value = _like(series, condition.value)
        compare = _COMPARISONS[condition.op]
        matched = np.zeros(len(rows), dtype=bool)
        matched[present] = compare(series[present], value).to_numpy(dtype=bool)
        mask &= matched
    return mask


def _like(series: pd.Series, value: Any) -> Any:
    """``value`` (often a string from the command line) in the type of ``series``."""
    try:
        if pd.api.types.is_datetime64_any_dtype(series):
            return pd.Timestamp(value)
        if pd.api.types.is_bool_dtype(series):
            return value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes")
        if pd.api.types.is_numeric_dtype(series):
            # a typed integer stays exact (a float would round ids above 2**53)
            return value if isinstance(value, int | float) else float(value)
    except (TypeError, ValueError) as error:
        raise VectorSearchError(
            f"filter on {series.name}: {value!r} is not a {series.dtype} value"
        ) from error
    return value

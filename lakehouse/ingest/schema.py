"""Pure schema logic of ingestion: declared columns, CSV headers, and conforming frames."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.sources import COLUMN_TYPES, DECIMAL_TYPE


def data_type(name: str) -> T.DataType:
    """The Spark type of a declared type name (``bigint``, ``decimal(10,2)``, ...)."""
    text = name.strip().lower()
    if text in COLUMN_TYPES:
        return getattr(T, COLUMN_TYPES[text])()
    decimal = DECIMAL_TYPE.match(text)
    if decimal:
        return T.DecimalType(int(decimal.group(1)), int(decimal.group(2)))
    raise ValueError(f"unknown column type {name!r}")


def declared_schema(columns: Mapping[str, str]) -> T.StructType:
    """A schema from ``name: type`` pairs, in their order, every column nullable."""
    return T.StructType([T.StructField(name, data_type(kind), True) for name, kind in columns.items()])


def parse_header(line: str, separator: str = ",", quote: str = '"') -> list[str]:
    """The column names of a CSV header line (quoted names allowed, whitespace trimmed)."""
    row = next(csv.reader([line], delimiter=separator, quotechar=quote), [])
    return [name.strip() for name in row]


@dataclass(frozen=True)
class FilePlan:
    """How to read one group of files whose header is the same.

    Attributes:
        schema: the columns in the files' own order, typed from the known schema; new
            columns are strings (bronze keeps what it does not know as text).
        new_columns: header columns the known schema lacks.
    """

    schema: T.StructType
    new_columns: tuple[str, ...]


def plan_header(header: Sequence[str], known: T.StructType) -> FilePlan:
    """Match a CSV header to the known columns by name (case-insensitive, as Spark resolves).

    Raises:
        ValueError: the header is empty or names a column twice.
    """
    if not header or all(not name for name in header):
        raise ValueError("empty header line")
    lowered = [name.lower() for name in header]
    duplicates = sorted({name for name in header if lowered.count(name.lower()) > 1})
    if duplicates:
        raise ValueError(f"header names columns {duplicates} twice")
    by_name = {field.name.lower(): field for field in known.fields}
    fields, new = [], []
    for name in header:
        field = by_name.get(name.lower())
        if field is None:
            new.append(name)
            fields.append(T.StructField(name, T.StringType(), True))
        else:
            fields.append(T.StructField(field.name, field.dataType, True))
    return FilePlan(T.StructType(fields), tuple(new))


def conform(frame: DataFrame, known: T.StructType, extra: Sequence[str] = ()) -> DataFrame:
    """Select the known columns in their order (missing ones as typed nulls), then ``extra``.

    Columns are matched case-insensitively; a known column whose type differs is cast.
    """
    present = {name.lower(): name for name in frame.columns}
    columns: list[Column] = []
    for field in known.fields:
        name = present.get(field.name.lower())
        column = F.col(f"`{name}`") if name is not None else F.lit(None)
        columns.append(column.cast(field.dataType).alias(field.name))
    columns += [F.col(f"`{present[name.lower()]}`").alias(name) for name in extra]
    return frame.select(*columns)


def evolved(known: T.StructType, new_columns: Sequence[str], types: Mapping[str, T.DataType]) -> T.StructType:
    """``known`` plus new nullable columns (typed from ``types``, string when absent), in order."""
    names = {field.name.lower() for field in known.fields}
    fields = list(known.fields)
    for name in new_columns:
        if name.lower() not in names:
            names.add(name.lower())
            fields.append(T.StructField(name, types.get(name, T.StringType()), True))
    return T.StructType(fields)


# Characters Delta refuses in a column name (without column mapping), and control characters.
_UNSTORABLE = set(" ,;{}()\n\t=")


def unstorable_names(header: Sequence[str]) -> list[str]:
    """Header names a Delta table cannot hold as columns, or that only binary data would have."""
    return [
        name
        for name in header
        if any(char in _UNSTORABLE or (ord(char) < 32) or char == "\ufffd" for char in name)
    ]


REPLACEMENT = "\ufffd"  # what Java's decoders put in place of bytes that do not decode


def flag_undecodable(frame: DataFrame, strings: Sequence[str], corrupt: str, encoding: str) -> DataFrame:
    """Make rows with bytes that did not decode malformed, never silently replaced text.

    A row whose ``strings`` values hold U+FFFD (a byte the source's ``encoding`` cannot decode)
    gets ``corrupt`` = those values as JSON, prefixed ``undecodable bytes (<encoding>):``; a
    corrupt line Spark kept with raw invalid UTF-8 (JSON) is stored as valid text.
    """
    kept = F.decode(F.encode(F.col(corrupt), "UTF-8"), "UTF-8")
    undecodable = F.lit(False)
    for name in strings:
        undecodable = undecodable | F.coalesce(F.instr(F.col(f"`{name}`"), REPLACEMENT) > 0, F.lit(False))
    described = F.concat(
        F.lit(f"undecodable bytes ({encoding}): "),
        F.to_json(F.struct(*[F.col(f"`{name}`") for name in strings])) if strings else F.lit(""),
    )
    return frame.withColumn(corrupt, F.when(F.col(corrupt).isNotNull(), kept).when(undecodable, described))

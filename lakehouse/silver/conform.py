"""Pure transformations from bronze rows to silver rows (DataFrame -> DataFrame, no I/O).

:func:`conform` applies a table's declaration (``silver.tables.<name>`` in ``conf/``): names in
snake_case, declared types, text trimmed and normalised, PII hashed or masked. :func:`one_row_per_key`
keeps the latest version of each business key.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.silver import SilverColumnSettings, SilverTableSettings
from lakehouse.errors import ConformError
from lakehouse.ingest.metadata import CORRUPT, INGESTED_AT
from lakehouse.ingest.schema import data_type
from lakehouse.transforms.keys import latest_per_key

# Bronze columns every silver row keeps: when the row was ingested (for freshness and lineage), and
# the raw line of a row that failed to parse (checked by quality, kept in quarantine, never in silver).
LINEAGE_COLUMNS = (INGESTED_AT, CORRUPT)

_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_WORD = re.compile(r"[^0-9a-zA-Z]+")


def snake_case(name: str) -> str:
    """``OrderTS`` -> ``order_ts``, ``customerID`` -> ``customer_id``, ``Unit Price`` -> ``unit_price``.

    Leading underscores (the lakehouse's own columns, ``_ingested_at``) are kept.
    """
    prefix = name[: len(name) - len(name.lstrip("_"))]
    words = _NOT_WORD.sub("_", _WORD_BOUNDARY.sub("_", name.lstrip("_"))).strip("_")
    return prefix + words.lower()


def snake_case_columns(frame: DataFrame, table: str = "frame") -> DataFrame:
    """Rename every column to snake_case.

    Raises:
        ConformError: two columns would get the same name (``OrderId`` and ``order_id``).
    """
    renamed: dict[str, list[str]] = {}
    for column in frame.columns:
        renamed.setdefault(snake_case(column), []).append(column)
    clashes = {new: old for new, old in renamed.items() if len(old) > 1}
    if clashes:
        raise ConformError(
            "; ".join(
                f"{table}: columns {old} all become {new!r} in snake_case" for new, old in clashes.items()
            )
        )
    return frame.select([F.col(f"`{column}`").alias(snake_case(column)) for column in frame.columns])


def normalise_text(column: Column, steps: Sequence[str]) -> Column:
    """Trim, apply the text steps in order, and turn an empty result into null.

    Steps: ``trim``, ``lower``, ``upper``, ``collapse_spaces`` (runs of white space become one
    space), ``digits`` (keep the digits and a leading ``+``: phone numbers), ``empty_as_null``.
    """
    text = F.trim(column)
    for step in steps:
        if step == "lower":
            text = F.lower(text)
        elif step == "upper":
            text = F.upper(text)
        elif step == "collapse_spaces":
            text = F.regexp_replace(text, r"\s+", " ")
        elif step == "digits":
            text = F.concat(
                F.when(text.startswith("+"), F.lit("+")).otherwise(F.lit("")),
                F.regexp_replace(text, r"[^0-9]", ""),
            )
        elif step not in ("trim", "empty_as_null"):
            raise ValueError(f"unknown text step {step!r}")
    return F.when(text == "", F.lit(None)).otherwise(text)


def hash_pii(column: Column, salt: str) -> Column:
    """Salted SHA-256 hex of a value (null stays null): joinable across tables, not readable."""
    return F.when(column.isNull(), F.lit(None)).otherwise(
        F.sha2(F.concat(F.lit(salt), column.cast("string")), 256)
    )


def mask_pii(column: Column, keep_last: int) -> Column:
    """Every character but the last ``keep_last`` replaced by ``*``; at most half of a value stays
    readable, so a short value is never shown whole (null stays null)."""
    text = column.cast("string")
    length = F.length(text)
    visible = F.least(F.lit(keep_last), F.floor(length / 2).cast("int"))
    stars = F.call_function("repeat", F.lit("*"), length - visible)
    return F.when(text.isNull(), F.lit(None)).otherwise(
        F.concat(stars, F.call_function("right", text, visible))
    )


def conform(frame: DataFrame, settings: SilverTableSettings, table: str, pii_salt: str = "") -> DataFrame:
    """Bronze rows as the silver table declares them.

    Args:
        frame: bronze rows (any column names; they are snake_cased first).
        settings: the table's declaration.
        table: the silver table's name, for errors.
        pii_salt: salt of ``pii: hash`` columns.

    Returns:
        One row per bronze row: the declared columns in declared order, then ``_ingested_at``
        and, when bronze has it, ``_corrupt_record``.

    Raises:
        ConformError: a required declared column is missing from bronze.
    """
    frame = snake_case_columns(frame, settings.source)
    available = {field.name: field.dataType for field in frame.schema.fields}
    missing = [
        f"{name} (from {_source(name, column)})"
        for name, column in ((n, settings.column(n)) for n in settings.columns)
        if _source(name, column) not in available and column.required
    ]
    if missing:
        raise ConformError(
            f"{table}: columns {missing} are not in {settings.source} (columns: {sorted(available)}); "
            f"fix silver.tables.{table.split('.')[-1]}.columns, or mark a column that a later drop "
            "adds `required: false`"
        )
    selected = [
        _conformed(name, settings.column(name), available, pii_salt).alias(name) for name in settings.columns
    ]
    lineage = [F.col(name) for name in LINEAGE_COLUMNS if name in available]
    return frame.select(*selected, *lineage)


def _conformed(
    name: str, column: SilverColumnSettings, available: dict[str, T.DataType], salt: str
) -> Column:
    source = _source(name, column)
    if source not in available:
        kind = data_type(column.type) if column.type else T.StringType()
        return F.lit(None).cast(kind)
    value = F.col(f"`{source}`")
    kind = data_type(column.type) if column.type else available[source]
    if isinstance(available[source], T.StringType):
        value = normalise_text(value, column.normalise)
    value = value.cast(kind)
    if column.pii == "hash":
        return hash_pii(value, salt)
    if column.pii == "mask":
        return mask_pii(value, column.keep_last)
    return value


def _source(name: str, column: SilverColumnSettings) -> str:
    """The bronze column a silver column comes from, by its snake_case name."""
    return snake_case(column.source or name)


def one_row_per_key(frame: DataFrame, key: Sequence[str], order_by: str | None) -> DataFrame:
    """The latest row of each business key (greatest ``order_by``; exact duplicates collapse).

    Rows with a null in the key are kept as they are, each on its own: they are not versions of
    one record, and the quality step sends them to quarantine rather than letting one win.
    """
    complete = " AND ".join(f"`{column}` IS NOT NULL" for column in key)
    return latest_per_key(frame.where(complete), key, order_by).unionByName(frame.where(f"NOT ({complete})"))

"""Where indexes live in the lakehouse, and moving them between the driver and storage.

``<files>/indexes/<table>/v<version>/`` holds one version of a table's index, and
``<files>/indexes/<table>/CURRENT`` names the version readers load. A writer writes a whole new
version folder, then moves ``CURRENT``, then removes versions older than the previous one: a
reader never sees a half-written index, and one that loaded the previous version can finish.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from lakehouse.errors import IndexUnreadableError, VectorSearchError
from lakehouse.io import files
from lakehouse.search.exact import vectors_of
from lakehouse.search.index import VectorIndex
from lakehouse.storage.layout import StorageLayout

POINTER = "CURRENT"
_VERSION = re.compile(r"^v(\d+)$")
FILES = ("index.faiss", "rows.parquet", "manifest.json")


def index_location(layout: StorageLayout, table: str) -> str:
    """The folder of ``table``'s index (e.g. ``<files>/indexes/gold.tickets_embeddings``)."""
    return layout.files_location("indexes", str(layout.table(table).table))


def save_index(spark: SparkSession, location: str, index: VectorIndex) -> str:
    """Write ``index`` as the next version under ``location`` and make it current.

    Returns:
        The version folder written.
    """
    versions = _versions(spark, location)
    number = (versions[-1] + 1) if versions else 1
    folder = f"{location}/v{number:06d}"
    for name, data in index.to_files().items():
        files.write_bytes(spark, f"{folder}/{name}", data)
    files.write_text(spark, f"{location}/{POINTER}", f"v{number:06d}\n")
    for old in versions[:-1]:  # keep the one before: a reader may still be loading it
        files.delete(spark, f"{location}/v{old:06d}")
    return folder


def load_index(spark: SparkSession, location: str, table: str = "") -> VectorIndex | None:
    """The current index under ``location``, or None when none was built.

    Args:
        table: the embedding table, named in errors.

    Raises:
        IndexUnreadableError: the current version's files are missing, truncated or corrupt.
    """
    pointer = files.read_text(spark, f"{location}/{POINTER}")
    if pointer is None:
        return None
    folder = f"{location}/{pointer.strip()}"
    content = {name: files.read_bytes(spark, f"{folder}/{name}") for name in FILES}
    missing = [name for name, data in content.items() if not data]
    if missing:
        raise IndexUnreadableError(table or location, folder, f"{', '.join(missing)} missing or empty")
    try:
        return VectorIndex.from_files(content)  # type: ignore[arg-type]
    except VectorSearchError as error:
        raise IndexUnreadableError(table or location, folder, str(error)) from None
    except Exception as error:  # faiss, pyarrow and json each fail in their own way on bad bytes
        first = (str(error).strip().splitlines() or [""])[0][:200]
        reason = f"{type(error).__name__}: {first}"
        raise IndexUnreadableError(table or location, folder, reason) from None


def _versions(spark: SparkSession, location: str) -> list[int]:
    return sorted(
        int(m.group(1)) for name in files.list_names(spark, location) if (m := _VERSION.match(name))
    )


def collect_arrow(frame: DataFrame) -> pa.Table:
    """A (driver-sized) DataFrame as an Arrow table, without Python row objects."""
    if hasattr(frame, "toArrow"):  # Spark 4
        return frame.toArrow()
    batches = frame._collect_as_arrow()  # Spark 3.5's Arrow collect behind toPandas
    schema = batches[0].schema if batches else None
    return pa.Table.from_batches(batches, schema=schema) if batches else _empty(frame)


def _empty(frame: DataFrame) -> pa.Table:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(frame.schema).empty_table()


def rows_and_vectors(
    table: pa.Table, dimension: int | None, time_zone: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """Split collected embedding rows into the index's row frame and the vector matrix.

    Decimals become floats, dates timestamps, and timestamps local times of the session's
    ``time_zone`` (as Spark shows them), so filters compare them as Spark SQL would.
    """
    vectors = table.column("vector")
    if dimension is None:
        dimension = len(vectors[0]) if len(vectors) else 0
    matrix = vectors_of(vectors, dimension) if len(vectors) else np.zeros((0, dimension), np.float32)
    rows = table.drop(["vector"]).to_pandas()
    for column in rows.columns:
        kind = table.schema.field(column).type
        if pa.types.is_decimal(kind):
            rows[column] = rows[column].astype("float64")
        elif pa.types.is_date(kind):
            rows[column] = pd.to_datetime(rows[column])
        elif pa.types.is_timestamp(kind) and kind.tz is not None:
            rows[column] = rows[column].dt.tz_convert(time_zone).dt.tz_localize(None)
    return rows, matrix

"""Where indexes live in the lakehouse, and moving them between the driver and storage.

``<files>/indexes/<table>/v<version>/`` holds one version of a table's index, and
``<files>/indexes/<table>/CURRENT`` names the version readers load. A writer writes a whole new
version folder, then moves ``CURRENT``, then removes versions older than the previous one: a
reader never sees a half-written index, and one that loaded the previous version can finish.

Writing goes through Spark (the ``build_index`` job); reading takes a :class:`Reader`: Spark's
file system in jobs, or :data:`NO_SPARK` (pyarrow) in the search service and the CLI.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession

from lakehouse.errors import IndexUnreadableError, VectorSearchError
from lakehouse.io import files, objects
from lakehouse.search.exact import vectors_of
from lakehouse.search.index import VectorIndex
from lakehouse.storage.layout import StorageLayout

POINTER = "CURRENT"
_VERSION = re.compile(r"^v(\d+)$")
FILES = ("index.faiss", "rows.parquet", "manifest.json")  # every version has these


@dataclass(frozen=True)
class Reader:
    """How stored files are read: ``read_bytes(location)`` (None: missing) and ``list_names(folder)``."""

    read_bytes: Callable[[str], bytes | None]
    list_names: Callable[[str], list[str]]


NO_SPARK = Reader(objects.read_bytes, objects.list_names)


def spark_reader(spark: SparkSession) -> Reader:
    """Reads through the session's Hadoop file system (its credentials for ``abfss://``)."""
    return Reader(functools.partial(files.read_bytes, spark), functools.partial(files.list_names, spark))


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


def current_version(location: str, reader: Reader = NO_SPARK) -> str | None:
    """The version folder's name that ``CURRENT`` names (e.g. ``v000003``), or None."""
    pointer = reader.read_bytes(f"{location}/{POINTER}")
    return pointer.decode("utf-8").strip() if pointer else None


def load_index(
    location: str, table: str = "", reader: Reader = NO_SPARK, version: str | None = None
) -> VectorIndex | None:
    """The current index under ``location`` (or its ``version`` folder), or None when none was built.

    Args:
        table: the embedding table, named in errors.

    Raises:
        IndexUnreadableError: the version's files are missing, truncated or corrupt.
    """
    version = version or current_version(location, reader)
    if version is None:
        return None
    folder = f"{location}/{version}"
    names = set(reader.list_names(folder)) | set(FILES)
    content = {name: reader.read_bytes(f"{folder}/{name}") for name in sorted(names)}
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

"""Build or refresh the index of an embedding table (the ``build_index`` job)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse.config.embeddings import EmbeddingsSettings
from lakehouse.errors import IndexUnreadableError, VectorSearchError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.search.index import FORMAT, IDENTITY, TEXT, VectorIndex
from lakehouse.search.storage import (
    collect_arrow,
    index_location,
    load_index,
    rows_and_vectors,
    save_index,
    spark_reader,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexResult:
    """What one run did to an index: ``built`` (from scratch), ``refreshed`` or ``current``."""

    table: str
    action: str
    table_version: int
    vectors: int
    added: int
    deleted: int
    location: str


def build_index(
    tables: DeltaStore, embeddings: EmbeddingsSettings, name: str, full: bool = False
) -> IndexResult:
    """Bring the index of ``embeddings.tables.<name>`` up to the table's latest version.

    Args:
        tables: the run's table store.
        embeddings: the ``embeddings`` section of the configuration.
        name: the embedding table.
        full: build from scratch even when a refresh would do.

    Raises:
        VectorSearchError: the embedding table does not exist yet.
    """
    settings = embeddings.index
    table = embeddings.table(name)
    metadata = embeddings.tables[name].metadata
    if not tables.exists(table):
        raise VectorSearchError(f"no table {table} to index: run `lakehouse run embed_documents` first")
    version = tables.version(table)
    location = index_location(tables.layout, table)
    spark = tables.spark
    snapshot = tables.read(table, version=version)
    columns = [*IDENTITY, *(c for c in TEXT if c in snapshot.columns), *metadata]
    schema = snapshot.select("document_id", "chunk_id", *metadata).schema.json()
    keyword = embeddings.search.keyword
    model = embeddings.model_of(name).name
    threads = spark.sparkContext.defaultParallelism
    time_zone = spark.conf.get("spark.sql.session.timeZone")
    expected = (model, metadata, schema, columns)
    index = None if full else _reusable_index(spark, location, table, version, expected)
    if index is not None and index.manifest.table_version == version:
        if index.keyword is not None and index.keyword.settings == keyword:
            log.info("index of %s: current at v%d (%d vectors)", table, version, index.manifest.live)
            return IndexResult(table, "current", version, index.manifest.live, 0, 0, location)
        index.index_keywords(keyword)  # embeddings.search.keyword changed: the vectors stay
        folder = save_index(spark, location, index)
        log.info("index of %s: keyword index rebuilt at v%d in %s", table, version, folder)
        return IndexResult(table, "refreshed", version, index.manifest.live, 0, 0, location)
    if index is not None:
        removed, new = _index_changes(index, snapshot, settings.rebuild_deleted_share, table)
        if removed is None:
            index = None
    if index is None:
        rows, vectors = rows_and_vectors(collect_arrow(snapshot.select(*columns, "vector")), None, time_zone)
        if len(vectors) == 0:
            raise VectorSearchError(f"table {table} v{version} holds no vectors to index")
        index = VectorIndex.build(
            vectors, rows, settings, table, version, model, threads, keyword, schema, time_zone
        )
        action, added, removed_count = "built", len(rows), 0
    else:
        added = _add_new_chunks(index, snapshot, new, removed, columns, version, keyword)
        action, removed_count = "refreshed", len(removed)
    folder = save_index(spark, location, index)
    log.info(
        "index of %s: %s at v%d, %d vectors (+%d, -%d; %d deleted in the graph) in %s",
        table, action, version, index.manifest.live, added, removed_count, index.manifest.deleted, folder,
    )  # fmt: skip
    return IndexResult(table, action, version, index.manifest.live, added, removed_count, location)


def _add_new_chunks(
    index: VectorIndex,
    snapshot: DataFrame,
    new: pd.DataFrame,
    removed: np.ndarray,
    columns: list[str],
    version: int,
    keyword: object,
) -> int:
    """Refresh ``index``: add the ``new`` chunks of ``snapshot``, delete the ``removed`` positions.
    Returns the chunks added."""
    spark = snapshot.sparkSession
    keys = spark.createDataFrame(pd.DataFrame(new), snapshot.select("document_id", "chunk_id").schema)
    fresh = snapshot.join(F.broadcast(keys), ["document_id", "chunk_id"], "left_semi")
    time_zone = spark.conf.get("spark.sql.session.timeZone")
    rows, vectors = rows_and_vectors(
        collect_arrow(fresh.select(*columns, "vector")), index.manifest.dimension, time_zone
    )
    index.refresh(vectors, rows, removed, version, spark.sparkContext.defaultParallelism, keyword)
    return len(rows)


def _reusable_index(
    spark: SparkSession, location: str, table: str, version: int, expected: tuple
) -> VectorIndex | None:
    """The saved index, unless it is unreadable or was built for another model, metadata, schema,
    columns or an older index format (``expected``: model, metadata, schema, columns)."""
    model, metadata, schema, columns = expected
    try:
        index = load_index(location, table, spark_reader(spark))
    except IndexUnreadableError as error:
        log.warning("%s; building it again from %s v%d", error, table, version)
        return None
    if index is not None and (
        index.manifest.model != model
        or index.manifest.metadata != metadata
        or index.manifest.format < FORMAT
        or index.manifest.schema != schema
        or list(index.rows.columns) != [*columns, "deleted"]
    ):
        log.info("index of %s: model, columns or index format changed, building it again", table)
        return None
    return index


def _index_changes(
    index: VectorIndex, snapshot: DataFrame, rebuild_deleted_share: float, table: str
) -> tuple[np.ndarray | None, pd.DataFrame]:
    """The index positions the table no longer holds and the chunks it does not index yet;
    ``None`` positions when so many would be deleted that building again is better."""
    current = collect_arrow(snapshot.select(*IDENTITY)).to_pandas()
    merged = index.live_identity().merge(current, on=IDENTITY, how="outer", indicator=True)
    removed = merged.loc[merged["_merge"] == "left_only", "position"].to_numpy(dtype=np.int64)
    new = merged.loc[merged["_merge"] == "right_only", ["document_id", "chunk_id"]]
    deleted_after = index.manifest.deleted + len(removed)
    if deleted_after > rebuild_deleted_share * (index.manifest.vectors + len(new)):
        log.info(
            "index of %s: %d of %d vectors would be deleted, building it again",
            table, deleted_after, index.manifest.vectors + len(new),
        )  # fmt: skip
        return None, new
    return removed, new

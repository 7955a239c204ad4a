"""Build or refresh the index of an embedding table (the ``build_index`` job)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from lakehouse.errors import IndexUnreadableError, VectorSearchError
from lakehouse.runs.context import JobContext
from lakehouse.search.index import FORMAT, IDENTITY, TEXT, VectorIndex
from lakehouse.search.storage import (
    collect_arrow,
    index_location,
    load_index,
    rows_and_vectors,
    save_index,
    spark_reader,
)


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


def build_index(context: JobContext, name: str, full: bool = False) -> IndexResult:
    """Bring the index of ``embeddings.tables.<name>`` up to the table's latest version.

    Args:
        full: build from scratch even when a refresh would do.

    Raises:
        VectorSearchError: the embedding table does not exist yet.
    """
    embeddings = context.config.embeddings
    settings = embeddings.index
    table = embeddings.table(name)
    metadata = embeddings.tables[name].metadata
    if not context.tables.exists(table):
        raise VectorSearchError(f"no table {table} to index: run `lakehouse run embed_documents` first")
    version = context.tables.version(table)
    location = index_location(context.layout, table)
    spark = context.spark
    index = None
    if not full:
        try:
            index = load_index(location, table, spark_reader(spark))
        except IndexUnreadableError as error:
            context.log.warning("%s; building it again from %s v%d", error, table, version)
    snapshot = context.tables.read(table, version=version)
    columns = [*IDENTITY, *(c for c in TEXT if c in snapshot.columns), *metadata]
    schema = snapshot.select("document_id", "chunk_id", *metadata).schema.json()
    keyword = embeddings.search.keyword
    model = embeddings.model_of(name).name
    threads = spark.sparkContext.defaultParallelism
    time_zone = spark.conf.get("spark.sql.session.timeZone")
    if index is not None and (
        index.manifest.model != model
        or index.manifest.metadata != metadata
        or index.manifest.format < FORMAT
        or index.manifest.schema != schema
        or list(index.rows.columns) != [*columns, "deleted"]
    ):
        context.log.info("index of %s: model, columns or index format changed, building it again", table)
        index = None
    if index is not None and index.manifest.table_version == version:
        if index.keyword is not None and index.keyword.settings == keyword:
            context.log.info("index of %s: current at v%d (%d vectors)", table, version, index.manifest.live)
            return IndexResult(table, "current", version, index.manifest.live, 0, 0, location)
        index.index_keywords(keyword)  # embeddings.search.keyword changed: the vectors stay
        folder = save_index(spark, location, index)
        context.log.info("index of %s: keyword index rebuilt at v%d in %s", table, version, folder)
        return IndexResult(table, "refreshed", version, index.manifest.live, 0, 0, location)
    if index is not None:
        current = collect_arrow(snapshot.select(*IDENTITY)).to_pandas()
        live = index.live_identity()
        merged = live.merge(current, on=IDENTITY, how="outer", indicator=True)
        removed = merged.loc[merged["_merge"] == "left_only", "position"].to_numpy(dtype=np.int64)
        new = merged.loc[merged["_merge"] == "right_only", ["document_id", "chunk_id"]]
        deleted_after = index.manifest.deleted + len(removed)
        if deleted_after > settings.rebuild_deleted_share * (index.manifest.vectors + len(new)):
            context.log.info(
                "index of %s: %d of %d vectors would be deleted, building it again",
                table, deleted_after, index.manifest.vectors + len(new),
            )  # fmt: skip
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
        keys = spark.createDataFrame(pd.DataFrame(new), snapshot.select("document_id", "chunk_id").schema)
        fresh = snapshot.join(F.broadcast(keys), ["document_id", "chunk_id"], "left_semi")
        rows, vectors = rows_and_vectors(
            collect_arrow(fresh.select(*columns, "vector")), index.manifest.dimension, time_zone
        )
        index.refresh(vectors, rows, removed, version, threads, keyword)
        action, added, removed_count = "refreshed", len(rows), len(removed)
    folder = save_index(spark, location, index)
    context.log.info(
        "index of %s: %s at v%d, %d vectors (+%d, -%d; %d deleted in the graph) in %s",
        table, action, version, index.manifest.live, added, removed_count, index.manifest.deleted, folder,
    )  # fmt: skip
    return IndexResult(table, action, version, index.manifest.live, added, removed_count, location)

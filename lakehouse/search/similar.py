"""Similarity joins: for each document, its most similar earlier documents.

The chunks are grouped by the condition (the metadata value matches must share, such as the
product; one group without a condition), and each group is matched in one Python task
(``applyInPandas``): a group of at most ``exact_below`` chunks exactly, by one matrix product of its
query chunks against all its chunks with the ineligible pairs (the document itself, documents not
written before it) masked out; a larger group through an HNSW graph of its chunks (FAISS, the
settings of ``embeddings.index``), whose ``k`` x 4 + 8 nearest chunks per query chunk are then
filtered the same way. A matched document scores by its best chunk pair, and the ``k`` best remain.
(So in a group over ``exact_below`` a document with more than 3k + 8 later near-duplicates can get
fewer than ``k`` earlier matches; the earlier ones it gets are the most similar.)

Cost: a group's exact product grows with its size squared, bounded by ``exact_below``; a graph's
build and search grow as n log n. (SynapseML's ``ConditionalKNN``, used before, answers from one
ball tree over all chunks; in 384 dimensions a ball tree prunes almost nothing, and the join grew
as rows^2.15 in ``benchmarks/pipeline.py --scale``.)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.embeddings import EmbeddingsSettings, SimilarSettings, VectorIndexSettings
from lakehouse.errors import VectorSearchError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.io.table_spec import TableSpec

log = logging.getLogger(__name__)

NO_VALUE = "\u2205"  # the condition label of documents whose condition column is null
QUERY_BLOCK = 1024  # query chunks per matrix product of the exact path


def similar_documents(
    chunks: DataFrame,
    queries: DataFrame,
    settings: SimilarSettings,
    index: VectorIndexSettings | None = None,
) -> DataFrame:
    """The ``k`` most similar earlier documents of each document in ``queries``.

    Args:
        chunks: the candidates: embedding table rows (``document_id``, ``vector``, the ``time``
            and ``condition`` columns).
        queries: the chunks of the documents to match (same columns).
        settings: the join's settings.
        index: the HNSW settings of a group over ``settings.exact_below`` chunks (default: the
            shipped ``embeddings.index``).

    Returns:
        ``document_id``, ``rank`` (1 = most similar), ``similar_document_id``, ``score`` (cosine).
    """

    def prepared(frame: DataFrame, asking: bool) -> DataFrame:
        label = (
            F.coalesce(F.col(settings.condition).cast("string"), F.lit(NO_VALUE))
            if settings.condition
            else F.lit(NO_VALUE)
        )
        return frame.select(
            "document_id",
            order.alias("_time"),
            F.col("vector").alias("_vector"),
            label.alias("_label"),
            F.lit(asking).alias("_asking"),
        )

    order = _time_order(chunks.schema, settings.time)
    id_type = chunks.schema["document_id"].dataType
    pairs = T.StructType(
        [
            T.StructField("document_id", id_type, False),
            T.StructField("similar_document_id", id_type, False),
            T.StructField("score", T.FloatType(), False),
        ]
    )
    match = group_matcher(settings.k * 4 + 8, settings.exact_below, index or VectorIndexSettings())
    both = prepared(chunks, False).unionByName(prepared(queries, True))
    matches = (
        both.groupBy("_label")
        .applyInPandas(match, pairs)
        .groupBy("document_id", "similar_document_id")
        .agg(F.max("score").alias("score"))
    )
    ranked = Window.partitionBy("document_id").orderBy(F.desc("score"), "similar_document_id")
    return (
        matches.withColumn("rank", F.row_number().over(ranked))
        .where(F.col("rank") <= settings.k)
        .select("document_id", F.col("rank").cast("int"), "similar_document_id", F.col("score").cast("float"))
    )


def _time_order(schema: T.StructType, column: str):
    """The time column as a double that orders documents (a time: its microseconds since 1970);
    null stays null, and a null time is never earlier or later than another."""
    kind = schema[column].dataType
    if isinstance(kind, T.DateType | T.TimestampType | T.TimestampNTZType):
        return F.unix_micros(F.col(column).cast("timestamp")).cast("double")
    if isinstance(kind, T.NumericType):
        return F.col(column).cast("double")
    raise VectorSearchError(
        f"similarity join: its time column {column!r} is {kind.simpleString()}; "
        "it must be a date, a timestamp or a number"
    )


def group_matcher(
    wanted: int, exact_below: int, index: VectorIndexSettings
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """The function ``applyInPandas`` runs on one condition group: its chunks (``_asking`` marks
    those of the documents to match) in, ``(document_id, similar_document_id, score)`` out, up to
    ``wanted`` eligible chunk pairs per asking chunk."""

    def match(group: pd.DataFrame) -> pd.DataFrame:
        asking = group[group["_asking"].to_numpy(dtype=bool)]
        candidates = group[~group["_asking"].to_numpy(dtype=bool)]
        if asking.empty or candidates.empty:
            return pd.DataFrame({"document_id": [], "similar_document_id": [], "score": []})
        vectors = np.stack(candidates["_vector"].to_numpy()).astype(np.float32)
        questions = np.stack(asking["_vector"].to_numpy()).astype(np.float32)
        documents = candidates["document_id"].to_numpy()
        times = candidates["_time"].to_numpy(dtype=np.float64, na_value=np.nan)
        own_documents = asking["document_id"].to_numpy()
        own_times = asking["_time"].to_numpy(dtype=np.float64, na_value=np.nan)
        if len(vectors) <= exact_below:
            rows, columns, scores = _exact_pairs(
                vectors, questions, documents, times, own_documents, own_times, wanted
            )
        else:
            rows, columns, scores = _graph_pairs(
                vectors, questions, documents, times, own_documents, own_times, wanted, index
            )
        return pd.DataFrame(
            {"document_id": own_documents[rows], "similar_document_id": documents[columns], "score": scores}
        )

    return match


def _exact_pairs(vectors, questions, documents, times, own_documents, own_times, wanted):
    """Every asking chunk's ``wanted`` best eligible chunks, by exact inner products."""
    rows, columns, scores = [], [], []
    for start in range(0, len(questions), QUERY_BLOCK):
        block = slice(start, start + QUERY_BLOCK)
        similarity = questions[block] @ vectors.T
        ineligible = (documents[None, :] == own_documents[block, None]) | (
            times[None, :] >= own_times[block, None]
        )
        similarity[ineligible] = -np.inf
        take = min(wanted, similarity.shape[1])
        best = np.argpartition(-similarity, take - 1, axis=1)[:, :take]
        best_scores = np.take_along_axis(similarity, best, axis=1)
        kept = np.isfinite(best_scores)
        rows.append(np.nonzero(kept)[0] + start)
        columns.append(best[kept])
        scores.append(best_scores[kept])
    return np.concatenate(rows), np.concatenate(columns), np.concatenate(scores).astype(np.float32)


def _graph_pairs(vectors, questions, documents, times, own_documents, own_times, wanted, settings):
    """Every asking chunk's ``wanted`` best eligible chunks among its 2 x ``wanted`` nearest in an
    HNSW graph of the group (the document's own chunks and later ones take places in the graph's
    answer, so it looks twice as far)."""
    import faiss

    graph = faiss.IndexHNSWFlat(vectors.shape[1], settings.m, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = settings.ef_construction
    graph.add(vectors)
    looked = min(2 * wanted, len(vectors))
    graph.hnsw.efSearch = max(settings.ef_search, looked)
    scores, found = graph.search(questions, looked)
    safe = np.maximum(found, 0)  # -1: no neighbour (masked below)
    eligible = (found >= 0) & (documents[safe] != own_documents[:, None]) & (times[safe] < own_times[:, None])
    kept = eligible & (np.cumsum(eligible, axis=1) <= wanted)  # the best eligible, in the graph's order
    rows = np.nonzero(kept)[0]
    return rows, found[kept], scores[kept].astype(np.float32)


def similar_spec(table: str, id_type, settings: SimilarSettings) -> TableSpec:
    comments = {
        "document_id": "The document matched",
        "rank": "1 = the most similar earlier document",
        "similar_document_id": f"An earlier document (by {settings.time})",
        "score": "Cosine similarity of the two documents' most similar chunks",
        "document_hash": "document_hash of the document when it was matched",
        "model": "The embedding model",
        "matched_at": "When the similarity join ran",
    }
    types = {
        "document_id": id_type,
        "rank": T.IntegerType(),
        "similar_document_id": id_type,
        "score": T.FloatType(),
        "document_hash": T.StringType(),
        "model": T.StringType(),
        "matched_at": T.TimestampType(),
    }
    return TableSpec(
        name=table,
        schema=T.StructType([T.StructField(c, t, False, {"comment": comments[c]}) for c, t in types.items()]),
        key=("document_id", "rank"),
        comment=f"For each document of {settings.embeddings}, its {settings.k} most similar earlier documents"
        + (f" with the same {settings.condition}" if settings.condition else ""),
    )


def update_similar(tables: DeltaStore, embeddings: EmbeddingsSettings, name: str) -> dict[str, int]:
    """Match the documents of the embedding table that are new or changed since the last run into
    ``gold.<name>``; remove the matches of deleted documents.

    Returns:
        ``documents`` matched, and the MERGE's ``inserted``, ``updated``, ``deleted`` rows.
    """
    settings = embeddings.similar[name]
    source = embeddings.table(settings.embeddings)
    table = f"gold.{name}"
    if not tables.exists(source):
        raise VectorSearchError(f"no table {source} to match: run `lakehouse run embed_documents` first")
    chunks = tables.read(source)
    spec = similar_spec(table, chunks.schema["document_id"].dataType, settings)
    tables.create(spec)
    existing = tables.read(table)
    documents = chunks.select("document_id", "document_hash", "model").distinct()
    todo = documents.join(
        existing.select("document_id", "document_hash").distinct(),
        ["document_id", "document_hash"],
        "left_anti",
    ).persist()
    gone = existing.select("document_id").distinct().join(documents, "document_id", "left_anti")
    count = todo.count()
    stale = existing.select("document_id", "rank").join(
        todo.select("document_id").unionByName(gone), "document_id", "left_semi"
    )
    if count == 0 and gone.isEmpty():
        todo.unpersist()
        log.info("%s: every document of %s is matched", table, source)
        return {"documents": 0, "inserted": 0, "updated": 0, "deleted": 0}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    queries = chunks.join(todo.select("document_id"), "document_id", "left_semi")
    matched = similar_documents(chunks, queries, settings, embeddings.index).join(todo, "document_id").select(
        "document_id", "rank", "similar_document_id", "score", "document_hash", "model",
        F.lit(now).cast("timestamp").alias("matched_at"),
    )  # fmt: skip
    try:
        metrics = tables.sync(table, matched, stale, ["document_id", "rank"], spec=spec)
    finally:
        todo.unpersist()
    log.info(
        "%s: %d documents of %s matched%s; rows +%d ~%d -%d",
        table, count, source, f" within each {settings.condition}" if settings.condition else "",
        metrics["inserted"], metrics["updated"], metrics["deleted"],
    )  # fmt: skip
    return {"documents": count, **metrics}

"""Exact top-k search with Spark: every vector of the table scored against every query.

The queries (a small matrix) travel to the Python workers inside the function; each worker scores
its Arrow batches with one matrix product and keeps, per query, the ``k`` best documents of its
partition (a document's best chunk); the driver-side step keeps the ``k`` best of those. That is
exact, because a document in the global top ``k`` is in the top ``k`` of the partition holding its
best chunk. It is the ground truth of the approximate index, and the path that scales out.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T


def vectors_of(column: pa.Array, dimension: int) -> np.ndarray:
    """An Arrow list<float> column as an ``(n, dimension)`` float32 matrix (no Python objects)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    flat = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return flat.reshape(-1, dimension) if len(column) else np.zeros((0, dimension), np.float32)


def best_documents(scores: np.ndarray, documents: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the ``k`` best documents in one row of scores (a document's best chunk).

    Returns:
        positions (into ``scores``) and their scores, best first; fewer than ``k`` when there are
        fewer documents.
    """
    wanted = min(len(scores), max(4 * k, 32))
    while True:
        if wanted < len(scores):
            top = np.argpartition(-scores, wanted - 1)[:wanted]
        else:
            top = np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        _, first = np.unique(documents[top], return_index=True)
        chosen = top[np.sort(first)][:k]
        if len(chosen) == k or wanted >= len(scores):
            return chosen, scores[chosen]
        wanted = min(len(scores), wanted * 4)


def _partition_best(best: list[tuple], k: int) -> pa.RecordBatch:
    """A partition's ``k`` best documents per query, over the best of each of its batches
    (``best``: per batch and query, the query, document ids, chunk ids and scores)."""
    query = np.concatenate([np.full(len(d), q, np.int32) for q, d, _, _ in best])
    documents = np.concatenate([d for _, d, _, _ in best])
    chunks = np.concatenate([c for _, _, c, _ in best])
    values = np.concatenate([v for _, _, _, v in best]).astype(np.float32)
    keep = []
    for q in np.unique(query):
        at = np.flatnonzero(query == q)
        top, _ = best_documents(values[at], documents[at], k)
        keep.append(at[top])
    keep = np.concatenate(keep)
    return pa.RecordBatch.from_arrays(
        [pa.array(query[keep]), pa.array(documents[keep]), pa.array(chunks[keep]), pa.array(values[keep])],
        names=["query", "document_id", "chunk_id", "score"],
    )


def exact_search(
    embeddings: DataFrame, queries: np.ndarray, k: int, where: Column | None = None
) -> DataFrame:
    """The ``k`` documents most similar to each query, by cosine (the vectors are normalised).

    Args:
        embeddings: an embedding table (``document_id``, ``chunk_id``, ``vector``, ...).
        queries: ``(queries, dimension)`` float32, L2-normalised.
        where: a filter on the table's columns, applied before scoring.

    Returns:
        ``query``, ``rank`` (1 = best), ``document_id``, ``chunk_id``, ``score``.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    dimension = queries.shape[1]
    rows = embeddings if where is None else embeddings.where(where)
    rows = rows.select("document_id", "chunk_id", "vector")
    id_type = rows.schema["document_id"].dataType
    schema = T.StructType(
        [
            T.StructField("query", T.IntegerType(), False),
            T.StructField("document_id", id_type, False),
            T.StructField("chunk_id", T.IntegerType(), False),
            T.StructField("score", T.FloatType(), False),
        ]
    )

    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        best: list[tuple] = []  # per batch: (query, document ids, chunk ids, scores)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            matrix = vectors_of(batch.column("vector"), dimension)
            documents = batch.column("document_id").to_numpy(zero_copy_only=False)
            chunks = batch.column("chunk_id").to_numpy(zero_copy_only=False)
            scores = queries @ matrix.T
            for query in range(len(queries)):
                top, values = best_documents(scores[query], documents, k)
                best.append((query, documents[top], chunks[top], values))
        if best:
            yield _partition_best(best, k)

    candidates = rows.mapInArrow(score, schema)
    # a document's chunks may sit in several partitions: its best one, then the k best documents
    per_document = Window.partitionBy("query", "document_id").orderBy(F.desc("score"), "chunk_id")
    ranked = Window.partitionBy("query").orderBy(F.desc("score"), "document_id")
    return (
        candidates.withColumn("_best", F.row_number().over(per_document))
        .where("_best = 1")
        .withColumn("rank", F.row_number().over(ranked))
        .where(F.col("rank") <= k)
        .select("query", "rank", "document_id", "chunk_id", "score")
    )

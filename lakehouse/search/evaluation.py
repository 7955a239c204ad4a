"""Retrieval quality against a labelled set: recall@k, precision@k and mean reciprocal rank, for
each search mode (vector, keyword, hybrid) of a table."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from lakehouse.display import text_table


@dataclass(frozen=True)
class RetrievalMetrics:
    """Means over the queries that have at least one relevant document.

    Attributes:
        recall_at_k: relevant documents in the top ``k`` / min(k, relevant documents): 1.0 when
            the top ``k`` holds only relevant documents, or all of them when there are fewer.
        precision_at_k: relevant documents in the top ``k`` / k.
        mrr: 1 / the rank of the first relevant document in the top ``k`` (0 when none).
        queries: queries measured.
    """

    k: int
    queries: int
    recall_at_k: float
    precision_at_k: float
    mrr: float


def retrieval_metrics(
    ranked: Mapping[Hashable, Sequence[Hashable]], relevant: Mapping[Hashable, set], k: int
) -> RetrievalMetrics:
    """Score ranked results (best first) of each query against its relevant documents.

    Queries without relevant documents are left out; a query without results scores 0.
    """
    measured = [query for query, documents in relevant.items() if documents]
    if not measured:
        return RetrievalMetrics(k, 0, 0.0, 0.0, 0.0)
    recall = precision = reciprocal = 0.0
    for query in measured:
        top = list(ranked.get(query, ()))[:k]
        good = relevant[query]
        found = sum(document in good for document in top)
        recall += found / min(k, len(good))
        precision += found / k
        reciprocal += next((1 / rank for rank, d in enumerate(top, start=1) if d in good), 0.0)
    count = len(measured)
    return RetrievalMetrics(k, count, recall / count, precision / count, reciprocal / count)


CUTOFFS = (1, 5, 10)


@dataclass(frozen=True)
class ModeEvaluation:
    """Retrieval quality of one way of searching on one labelled set.

    Attributes:
        mode: ``vector``, ``keyword`` or ``hybrid``.
        method: ``index`` (the table's indexes) or ``exact`` (every vector scored by Spark).
        recall: recall at each of :data:`CUTOFFS` (1, 5, 10), as in :class:`RetrievalMetrics`.
        mrr: mean reciprocal rank of the first relevant document in the top 10.
        at_k: recall, precision and MRR at the evaluation's own ``k``.
        table_version: the table's version when searched.
    """

    mode: str
    method: str
    queries: int
    recall: dict[int, float]
    mrr: float
    at_k: RetrievalMetrics
    table_version: int | None


def sample_queries(queries: Sequence[tuple[Hashable, str]], limit: int | None) -> list[tuple[Hashable, str]]:
    """At most ``limit`` of the ``(query_id, text)`` pairs, in their order: those whose ids hash
    lowest (SHA-256 of the id's text), so that every run measures the same queries while the set
    stays the same, and a grown set's sample is still spread over all of it. None: all of them."""
    if limit is None or len(queries) <= limit:
        return list(queries)
    ranked = sorted(range(len(queries)), key=lambda i: hashlib.sha256(str(queries[i][0]).encode()).digest())
    return [queries[i] for i in sorted(ranked[:limit])]


def evaluation_runs(indexed: bool) -> list[tuple[str, bool]]:
    """The ``(mode, exact)`` runs a table allows: every mode from its index and exact vector
    scoring; without an index, exact vector scoring only (keyword and hybrid need the index)."""
    if not indexed:
        return [("vector", True)]
    return [("vector", False), ("keyword", False), ("hybrid", False), ("vector", True)]


def evaluate_modes(
    searcher,
    queries: Sequence[tuple[Hashable, str]],
    relevant: Mapping[Hashable, set],
    k: int,
    runs: Sequence[tuple[str, bool]] | None = None,
) -> list[ModeEvaluation]:
    """Search every labelled query in each mode and score the rankings.

    Args:
        searcher: a :class:`lakehouse.search.api.Searcher` of the evaluated table.
        queries: ``(query_id, text)``; only those with relevant documents are measured.
        relevant: query id -> the ids of its relevant documents.
        k: the evaluation's own cutoff (``embeddings.evaluations.<name>.k``).
        runs: ``(mode, exact)`` pairs to measure, in order; None: :func:`evaluation_runs` of an
            indexed table.

    Returns:
        One evaluation per run.
    """
    measured = [(query_id, text) for query_id, text in queries if relevant.get(query_id)]
    depth = max(k, *CUTOFFS)
    texts = [text for _, text in measured]
    done = []
    for mode, exact in evaluation_runs(True) if runs is None else runs:
        results = searcher.search(texts, depth, exact=exact, mode=mode) if texts else []
        ranked = {
            query_id: [hit.document_id for hit in result.hits]
            for (query_id, _), result in zip(measured, results, strict=True)
        }
        wanted = {query_id: relevant[query_id] for query_id, _ in measured}
        recall = {cutoff: retrieval_metrics(ranked, wanted, cutoff).recall_at_k for cutoff in CUTOFFS}
        method = results[0].method if results else ("exact" if exact else "index")
        done.append(
            ModeEvaluation(
                mode,
                method,
                len(measured),
                recall,
                retrieval_metrics(ranked, wanted, max(CUTOFFS)).mrr,
                retrieval_metrics(ranked, wanted, k),
                results[0].table_version if results else None,
            )
        )
    return done


def format_evaluations(name: str, table: str, evaluations: Sequence[ModeEvaluation]) -> str:
    """One labelled set's evaluations as a text table: a row per mode."""
    rows = [("MODE", "METHOD", "QUERIES", *(f"RECALL@{c}" for c in CUTOFFS), "MRR")]
    for evaluation in evaluations:
        rows.append(
            (
                evaluation.mode,
                evaluation.method,
                str(evaluation.queries),
                *(f"{evaluation.recall[c]:.3f}" for c in CUTOFFS),
                f"{evaluation.mrr:.3f}",
            )
        )
    return f"evaluation {name} ({table})\n{text_table(rows)}"


@dataclass(frozen=True)
class LabelledSet:
    """The queries of a labelled set that have relevant documents in the table, and those."""

    queries: list[tuple[Hashable, str]]  # (query_id, text), by id
    relevant: dict[Hashable, set]  # query id -> the ids of its relevant documents


def read_labelled_set(
    spark: SparkSession, queries_path: str, relevance_path: str, documents: DataFrame
) -> LabelledSet:
    """A labelled set from its two Parquet folders: ``(query_id, query)`` and ``(query_id,
    document_id)``. A query written on several days counts once; only documents in ``documents``
    (a ``document_id`` column: the table's) count, so a query none of whose documents reached
    the table is not measured."""
    queries = spark.read.parquet(queries_path).select("query_id", "query").distinct()
    relevance = spark.read.parquet(relevance_path).select("query_id", "document_id")
    relevant: dict[Hashable, set] = {}
    for pair in relevance.join(documents.select("document_id").distinct(), "document_id").collect():
        relevant.setdefault(pair.query_id, set()).add(pair.document_id)
    labelled = sorted((row.query_id, row.query) for row in queries.collect() if relevant.get(row.query_id))
    return LabelledSet(labelled, relevant)


def measure_labelled_set(
    name: str, searcher, labelled: LabelledSet, k: int, max_queries: int | None, log: logging.Logger
) -> list[ModeEvaluation]:
    """Measure every mode the searcher's table allows on a labelled set (at most ``max_queries``
    of its queries: :func:`sample_queries`), and log the table of results."""
    queries = sample_queries(labelled.queries, max_queries)
    if len(queries) < len(labelled.queries):
        log.info(
            "evaluation %s: %d of its %d labelled queries measured (max_queries)",
            name, len(queries), len(labelled.queries),
        )  # fmt: skip
    if searcher.index is None:
        log.warning(
            "evaluation %s: %s has no index: keyword and hybrid not measured (run build_index)",
            name, searcher.table,
        )  # fmt: skip
    evaluations = evaluate_modes(
        searcher, queries, labelled.relevant, k, evaluation_runs(searcher.index is not None)
    )
    log.info("%s", format_evaluations(name, searcher.table, evaluations))
    return evaluations

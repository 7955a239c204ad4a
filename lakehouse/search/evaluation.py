"""Retrieval quality against a labelled set: recall@k, precision@k and mean reciprocal rank."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass


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

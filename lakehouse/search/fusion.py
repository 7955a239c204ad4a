"""Hybrid search: Reciprocal Rank Fusion of the vector and keyword lists of one query.

Each list ranks documents (a document's best chunk). A document's fused score is the sum over
the lists it appears in of ``weight / (constant + rank)``, as Azure AI Search fuses hybrid
queries; ranks start at 1, and only the first ``depth`` documents of each list take part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lakehouse.config.embeddings import FusionSettings
from lakehouse.search.index import Hits


@dataclass(frozen=True)
class Fused:
    """One document of a fused list: the position of its chunk, its fused score and its rank in
    each list (None: not in that list's top ``depth``)."""

    position: int
    score: float
    vector_rank: int | None
    keyword_rank: int | None


def reciprocal_rank_fusion(
    vector: Hits, keyword: Hits, documents: np.ndarray, settings: FusionSettings, k: int
) -> list[Fused]:
    """The ``k`` best documents of both lists, best first.

    Args:
        documents: the document id of every position of the index.

    The chunk a fused document returns is its best chunk in the vector list, or in the keyword
    list when the vector list does not hold the document. Ties go to the better single rank.
    """
    entries: dict[object, dict] = {}
    for name, hits, weight in (
        ("vector", vector, settings.vector_weight),
        ("keyword", keyword, settings.keyword_weight),
    ):
        for rank, position in enumerate(hits.positions[: settings.depth], start=1):
            entry = entries.setdefault(documents[position], {"position": int(position), "score": 0.0})
            entry[name] = rank
            entry["score"] += weight / (settings.constant + rank)
    ranked = sorted(
        entries.values(),
        key=lambda e: (-e["score"], min(e.get("vector", np.inf), e.get("keyword", np.inf))),
    )
    return [Fused(e["position"], e["score"], e.get("vector"), e.get("keyword")) for e in ranked[:k]]

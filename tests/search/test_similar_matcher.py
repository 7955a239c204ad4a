"""The similarity join's matcher of one condition group, exact and through an HNSW graph, against a
brute-force answer (no Spark: the function ``applyInPandas`` runs)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lakehouse.config.embeddings import VectorIndexSettings
from lakehouse.search.similar import group_matcher

WANTED = 12


def group(documents: int = 600, seed: int = 3) -> pd.DataFrame:
    """Unit vectors in clusters, two chunks per document, a time per document; the last 100
    documents ask."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, 32))
    rows = []
    for document in range(documents):
        centre = centres[document % 20]
        for _ in range(2):
            vector = centre + 0.3 * rng.standard_normal(32)
            rows.append(
                (document, float(document // 3), (vector / np.linalg.norm(vector)).astype(np.float32))
            )
    frame = pd.DataFrame(rows, columns=["document_id", "_time", "_vector"])
    asking = frame[frame.document_id >= documents - 100].assign(_asking=True)
    return pd.concat([frame.assign(_asking=False), asking], ignore_index=True)


def brute_force(frame: pd.DataFrame) -> set[tuple[int, int]]:
    """Every asking chunk's WANTED best eligible chunks, as (document, similar document) pairs."""
    candidates, asking = frame[~frame._asking], frame[frame._asking]
    vectors = np.stack(candidates._vector.to_numpy())
    pairs = set()
    for _, row in asking.iterrows():
        scores = vectors @ row._vector
        eligible = (candidates.document_id.to_numpy() != row.document_id) & (
            candidates._time.to_numpy() < row._time
        )
        best = np.argsort(-np.where(eligible, scores, -np.inf), kind="stable")[:WANTED]
        pairs |= {(row.document_id, candidates.document_id.iloc[i]) for i in best if eligible[i]}
    return pairs


def test_exact_matching_finds_the_best_earlier_chunks_of_other_documents():
    frame = group()
    found = group_matcher(WANTED, exact_below=10_000, index=VectorIndexSettings())(frame)
    assert set(zip(found.document_id, found.similar_document_id, strict=True)) == brute_force(frame)
    times = dict(zip(frame.document_id, frame._time, strict=False))
    assert all(times[s] < times[d] for d, s in zip(found.document_id, found.similar_document_id, strict=True))
    assert found.score.dtype == np.float32 and found.score.max() <= 1.0001


def test_a_group_over_exact_below_goes_through_the_graph_and_finds_nearly_the_same_pairs():
    frame = group()
    exact = brute_force(frame)
    found = group_matcher(WANTED, exact_below=100, index=VectorIndexSettings())(frame)
    pairs = set(zip(found.document_id, found.similar_document_id, strict=True))
    # an approximate search: nearly every pair of the exact answer, and no more pairs than it
    assert len(pairs & exact) >= 0.97 * len(exact) and len(pairs) <= len(exact)
    times = dict(zip(frame.document_id, frame._time, strict=False))
    assert all(times[s] < times[d] for d, s in pairs)


def test_a_group_without_questions_or_candidates_gives_no_rows():
    frame = group(documents=10)
    assert group_matcher(WANTED, 100, VectorIndexSettings())(frame[~frame._asking]).empty

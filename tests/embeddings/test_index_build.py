"""The index's graph built on 8-bit copies of the vectors: it keeps the full-precision vectors,
scores exactly, finds what a full-precision build finds, survives its files and takes refreshes.

No Spark: the index is FAISS over numpy arrays.
"""

from __future__ import annotations

import faiss
import numpy as np
import pandas as pd

from lakehouse.config.embeddings import VectorIndexSettings
from lakehouse.search.index import QUANTISED_FROM, VectorIndex

DIMENSION, K = 48, 10
SETTINGS = VectorIndexSettings(m=16, ef_construction=100, ef_search=64)


def clustered(count: int, seed: int) -> np.ndarray:
    """Normalised vectors around 200 centres (neighbourhoods with structure, as embeddings have)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((200, DIMENSION))
    points = centres[rng.integers(0, 200, count)] + 0.6 * rng.standard_normal((count, DIMENSION))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def rows_for(count: int, start: int = 0) -> pd.DataFrame:
    ids = np.arange(start, start + count)
    return pd.DataFrame(
        {
            "document_id": ids,
            "chunk_id": 0,
            "content_hash": "",
            "document_hash": "",
            "chunk_text": ids.astype(str),
        }
    )


def recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def test_a_graph_built_on_8_bit_copies_finds_what_a_full_precision_one_does_and_scores_exactly():
    count = QUANTISED_FROM + 2_000  # large enough for the 8-bit build
    vectors, queries = clustered(count, seed=1), clustered(300, seed=2)
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :K]

    index = VectorIndex.build(vectors, rows_for(count), SETTINGS, "gold.t", 3, "model", threads=2)
    assert index.index.ntotal == count and isinstance(index.index, faiss.IndexHNSWFlat)
    # the stored vectors are the originals, not their 8-bit copies, and a hit's score is exact
    assert np.array_equal(
        index.index.reconstruct_batch(np.array([0, 7, count - 1])), vectors[[0, 7, count - 1]]
    )
    hits = index.search(queries, K, SETTINGS.ef_search)
    best = hits[0].positions[0]
    assert abs(hits[0].scores[0] - float(queries[0] @ vectors[best])) < 1e-5

    plain = faiss.IndexHNSWFlat(DIMENSION, SETTINGS.m, faiss.METRIC_INNER_PRODUCT)
    plain.hnsw.efConstruction = SETTINGS.ef_construction
    plain.add(vectors)
    plain.hnsw.efSearch = SETTINGS.ef_search
    _, plain_found = plain.search(queries, K)
    ours, theirs = recall([h.positions for h in hits], truth), recall(list(plain_found), truth)
    assert ours >= 0.9 and ours >= theirs - 0.01, (ours, theirs)

    # its files give back the same graph; a refresh adds vectors the graph then finds
    again = VectorIndex.from_files(index.to_files())
    assert [list(h.positions) for h in again.search(queries[:20], K, SETTINGS.ef_search)] == [
        list(h.positions) for h in hits[:20]
    ]
    extra = clustered(50, seed=3)
    again.refresh(extra, rows_for(50, start=count), np.array([], dtype=np.int64), 4, threads=2)
    found = again.search(extra, 1, SETTINGS.ef_search)
    assert sum(h.positions[0] >= count for h in found) >= 48  # each new vector is its own best hit


def test_an_index_whose_chunks_are_all_deleted_or_wordless_still_refreshes_and_answers_nothing():
    vectors = clustered(30, seed=4)
    rows = rows_for(30).assign(chunk_text=["", "...", " "] * 10)  # not one word among them
    index = VectorIndex.build(vectors, rows, SETTINGS, "gold.t", 1, "model")
    assert len(index.keyword_search(["anything"], 5)[0].positions) == 0

    index = VectorIndex.build(vectors, rows_for(30), SETTINGS, "gold.t", 1, "model")
    assert len(index.keyword_search(["7"], 5)[0].positions) == 1
    index.refresh(vectors[:0], rows_for(0), np.arange(30), 2)  # every document deleted
    assert index.manifest.deleted == 30 and index.manifest.live == 0
    assert len(index.keyword_search(["7"], 5)[0].positions) == 0
    assert len(index.search(vectors[:1], 5, SETTINGS.ef_search)[0].positions) == 0
    again = VectorIndex.from_files(index.to_files())
    assert len(again.keyword_search(["7"], 5)[0].positions) == 0

"""The parts of keyword, hybrid and context retrieval that need no table: the tokenizer, BM25,
Reciprocal Rank Fusion, windows of adjacent chunks and the token budget."""

from __future__ import annotations

import numpy as np
import pytest

from lakehouse.config.embeddings import EmbeddingModelSettings, FusionSettings, KeywordSettings
from lakehouse.embeddings.model import load_model
from lakehouse.search.context import Chunk, Passage, fit, join_overlapping, windows
from lakehouse.search.fusion import reciprocal_rank_fusion
from lakehouse.search.index import Hits
from lakehouse.search.keyword import KeywordIndex, tokenize


def test_the_tokenizer_keeps_identifiers_whole_and_in_parts():
    settings = KeywordSettings()
    assert tokenize("Use pandas.DataFrame.merge on it", settings) == [
        "use", "pandas.dataframe.merge", "data", "dataframe", "frame", "merge", "pandas",
    ]  # fmt: skip
    assert tokenize("read_csv failed: ORD-10442", settings) == [
        "read_csv", "csv", "read", "failed", "ord-10442", "10442", "ord",
    ]  # fmt: skip
    plain = KeywordSettings(split_identifiers=False, stopwords="none")
    assert tokenize("The read_csv of it", plain) == ["the", "read_csv", "of", "it"]


def test_bm25_ranks_the_rare_exact_term_first_and_round_trips():
    texts = ["the parcel arrived late", "order 10442 arrived broken", "an order arrived", ""]
    index = KeywordIndex.build(texts, KeywordSettings())
    scores = index.scores("order 10442")
    assert int(np.argmax(scores)) == 1 and scores[0] == 0 and scores[3] == 0
    assert not index.scores("nothing matches zebra").any()
    again = KeywordIndex.from_files(index.to_files())
    assert np.allclose(again.scores("order 10442"), scores) and again.settings == index.settings


def test_reciprocal_rank_fusion_sums_weighted_reciprocal_ranks():
    documents = np.array(["a", "a", "b", "c", "d"])  # positions 0 and 1 are chunks of document a
    vector = Hits(np.array([2, 0, 3]), np.array([0.9, 0.8, 0.7], np.float32))  # b, a, c
    keyword = Hits(np.array([1, 4]), np.array([7.0, 3.0], np.float32))  # a (its other chunk), d
    fused = reciprocal_rank_fusion(vector, keyword, documents, FusionSettings(constant=60), k=3)
    assert [(f.position, f.vector_rank, f.keyword_rank) for f in fused] == [
        (0, 2, 1),
        (2, 1, None),
        (4, None, 2),
    ]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    keyword_heavy = FusionSettings(constant=60, vector_weight=0.1, keyword_weight=1.0)
    assert reciprocal_rank_fusion(vector, keyword, documents, keyword_heavy, k=2)[1].position == 4
    shallow = FusionSettings(depth=1)
    assert {f.position for f in reciprocal_rank_fusion(vector, keyword, documents, shallow, k=5)} == {2, 1}
    with pytest.raises(ValueError, match="cannot both be 0"):
        FusionSettings(vector_weight=0, keyword_weight=0)


def test_adjacent_chunks_merge_into_one_window_and_the_budget_cuts_the_last():
    assert join_overlapping("one two three four", "three four five six") == "one two three four five six"
    assert join_overlapping("no overlap", "here") == "no overlap here"
    chunks = [
        Chunk(0, "a b c d", 0.2),
        Chunk(1, "c d e f", 0.9),
        Chunk(2, "e f g h", 0.8),
        Chunk(4, "x y", 0.85),
    ]
    assert windows(chunks, 1) == [([1], "c d e f", 0.9)]
    assert windows(chunks, 3) == [([1, 2], "c d e f g h", 0.9), ([4], "x y", 0.85)]

    tokenizer = load_model(EmbeddingModelSettings()).tokenizer
    long = " ".join(["battery"] * 40)
    passages = [Passage("short text here", 0, 1, [0], 0.9, 1), Passage(long, 0, 2, [3, 4], 0.8, 2)]
    fitted = fit(passages, tokenizer, max_tokens=23)
    assert [(p.document_id, p.tokens, p.truncated) for p in fitted] == [(1, 3, False), (2, 20, True)]
    assert fitted[1].text == " ".join(["battery"] * 20)
    assert fit(passages, tokenizer, max_tokens=10) == fitted[:1]  # 7 left: too few to cut

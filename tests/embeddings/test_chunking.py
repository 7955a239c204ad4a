"""Chunking by the model's own tokenizer."""

from __future__ import annotations

import itertools

import pytest

from lakehouse.config.embeddings import EmbeddingModelSettings
from lakehouse.embeddings.chunking import chunk_texts, fit_titles, titled, token_windows
from lakehouse.embeddings.model import load_model

from .conftest import LONG_BODY


def test_token_windows_cover_the_text_with_overlap():
    assert token_windows(10, 4, 1) == [(0, 4), (3, 7), (6, 10)]
    assert token_windows(4, 4, 2) == [(0, 4)]
    assert token_windows(5, 4, 2) == [(0, 4), (2, 5)]
    assert token_windows(0, 4, 1) == []
    with pytest.raises(ValueError, match="overlap"):
        token_windows(10, 4, 4)


def test_chunks_fit_the_window_share_the_overlap_and_cover_the_text():
    tokenizer = load_model(EmbeddingModelSettings()).tokenizer
    window, overlap = 30, 8
    short, empty, blank = "Cannot log in.", None, "   "
    chunks = chunk_texts(tokenizer, [LONG_BODY, short, empty, blank], window, overlap)
    assert chunks[1] == [short]
    assert chunks[2] == [] and chunks[3] == []
    long_chunks = chunks[0]
    ids = tokenizer(LONG_BODY, add_special_tokens=False)["input_ids"]
    assert len(long_chunks) == len(token_windows(len(ids), window, overlap)) > 2
    pieces = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in long_chunks]
    assert all(len(p) <= window for p in pieces)
    # each chunk is a slice of the text, and consecutive chunks share their boundary tokens
    assert all(c in LONG_BODY for c in long_chunks)
    assert LONG_BODY.startswith(long_chunks[0]) and LONG_BODY.endswith(long_chunks[-1])
    for before, after in itertools.pairwise(long_chunks):
        assert LONG_BODY.index(after) < LONG_BODY.index(before) + len(before)


def test_a_title_and_its_chunk_fit_the_window_together():
    tokenizer = load_model(EmbeddingModelSettings()).tokenizer
    window = 30
    long_title = "Wireless over-ear headphones with active noise cancelling " * 4
    titles, windows = fit_titles(tokenizer, ["Aurora headphones", long_title, None, "  "], window)
    assert titles[0] == "Aurora headphones" and titles[2:] == [None, None]
    # a title takes at most half the window: a longer one is cut at a token boundary
    assert long_title.startswith(titles[1])
    assert len(tokenizer(titles[1], add_special_tokens=False)["input_ids"]) == window // 2
    title_tokens = len(tokenizer("Aurora headphones", add_special_tokens=False)["input_ids"])
    assert windows[2:] == [window, window] and windows[:2] == [window - title_tokens, window - window // 2]
    chunks = chunk_texts(tokenizer, [LONG_BODY] * 4, windows, 8)
    for title, parts in zip(titles, chunks, strict=True):
        for part in parts:
            embedded = titled(title, part)
            assert embedded == (f"{title}\n\n{part}" if title else part)
            assert len(tokenizer(embedded, add_special_tokens=False)["input_ids"]) <= window
    assert len(chunks[1]) > len(chunks[0]) >= len(chunks[2]) == len(chunks[3])

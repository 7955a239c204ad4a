"""Grounding context for a language model's prompt: the retrieval half of RAG.

From a search's best documents, each document gives its best chunks (one window unless more are
asked for); chunks of one document that are adjacent are merged into one window, their shared
overlap written once (chunks are slices of the document's text that share ``overlap`` tokens).
Windows are taken best first until ``max_tokens`` tokens of the model's tokenizer are used; the
window that does not fit whole is cut at a token boundary. Each passage carries its citation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MIN_CUT_TOKENS = 16  # a window cut shorter than this is left out instead


@dataclass(frozen=True)
class Chunk:
    chunk_id: int
    text: str
    score: float


@dataclass(frozen=True)
class Passage:
    """One window of one document, and where it comes from.

    Attributes:
        chunk_ids: the chunks the window spans, in document order.
        score: the best score among them (the search's similarity or BM25 score).
        truncated: the window was cut to fit the token budget.
    """

    text: str
    tokens: int
    document_id: Any
    chunk_ids: list[int]
    score: float
    rank: int
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False


def windows(chunks: Sequence[Chunk], count: int) -> list[tuple[list[int], str, float]]:
    """The ``count`` best chunks of one document, adjacent ones merged: (chunk ids, text, score),
    best first."""
    chosen = sorted(sorted(chunks, key=lambda c: -c.score)[:count], key=lambda c: c.chunk_id)
    merged: list[tuple[list[int], str, float]] = []
    for chunk in chosen:
        if merged and merged[-1][0][-1] == chunk.chunk_id - 1:
            ids, text, score = merged[-1]
            merged[-1] = ([*ids, chunk.chunk_id], join_overlapping(text, chunk.text), max(score, chunk.score))
        else:
            merged.append(([chunk.chunk_id], chunk.text, chunk.score))
    return sorted(merged, key=lambda window: -window[2])


def join_overlapping(first: str, second: str) -> str:
    """``first`` then ``second`` with the longest end of ``first`` that starts ``second`` written once."""
    for size in range(min(len(first), len(second)), 0, -1):
        if first.endswith(second[:size]):
            return first + second[size:]
    return f"{first} {second}"


def fit(passages: Sequence[Passage], tokenizer: Any, max_tokens: int) -> list[Passage]:
    """The passages, best first, that fit in ``max_tokens`` tokens; the first that does not fit
    whole is cut at a token boundary (when at least :data:`MIN_CUT_TOKENS` are left)."""
    kept: list[Passage] = []
    left = max_tokens
    for passage in passages:
        encoded = tokenizer(passage.text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = encoded["offset_mapping"]
        if len(offsets) <= left:
            kept.append(_with(passage, passage.text, len(offsets), False))
            left -= len(offsets)
            continue
        if left >= MIN_CUT_TOKENS:
            kept.append(_with(passage, passage.text[: offsets[left - 1][1]], left, True))
        break
    return kept


def _with(passage: Passage, text: str, tokens: int, truncated: bool) -> Passage:
    return Passage(
        text, tokens, passage.document_id, passage.chunk_ids, passage.score, passage.rank,
        passage.title, passage.metadata, truncated,
    )  # fmt: skip

"""Cutting documents into chunks that fit the model, with the model's own tokenizer.

A chunk holds at most ``window`` tokens (the model's maximum less its special tokens), and
consecutive chunks share ``overlap`` tokens, so a sentence cut by one chunk boundary is whole in
one of the two chunks. A chunk's text is the exact slice of the document its tokens came from
(the tokenizer's character offsets), so it reads as the original and embeds the same tokens.

A document with a title is embedded as its title, a blank line, then each chunk: the title's tokens
come out of each chunk's window (a title takes at most half of it, longer ones are cut), so that
the whole text still fits the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def token_windows(tokens: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """``(first, end)`` token ranges covering ``tokens`` tokens: ``window`` long, ``overlap`` shared.

    >>> token_windows(10, 4, 1)
    [(0, 4), (3, 7), (6, 10)]
    """
    if window < 1 or not 0 <= overlap < window:
        raise ValueError(f"need 0 <= overlap < window, got window {window}, overlap {overlap}")
    if tokens <= 0:
        return []
    stride = window - overlap
    windows = []
    start = 0
    while True:
        end = min(start + window, tokens)
        windows.append((start, end))
        if end == tokens:
            return windows
        start += stride


TITLE_SEPARATOR = "\n\n"


def titled(title: str | None, chunk: str) -> str:
    """The text embedded for a chunk: its document's title, a blank line, the chunk (the chunk
    alone without a title)."""
    return f"{title}{TITLE_SEPARATOR}{chunk}" if title else chunk


def fit_titles(
    tokenizer: Any, titles: Sequence[str | None], window: int
) -> tuple[list[str | None], list[int]]:
    """Each title cut to at most half of ``window`` tokens, and the tokens left for its chunks.

    Args:
        tokenizer: a Hugging Face *fast* tokenizer.
        titles: one per document; None or blank: no title (the whole window is the chunk's).
        window: tokens per embedded text, special tokens excluded.

    Returns:
        The titles as embedded (blank ones as None), and each document's chunk window.
    """
    present = [index for index, title in enumerate(titles) if title is not None and title.strip()]
    fitted: list[str | None] = [None] * len(titles)
    windows = [window] * len(titles)
    if not present:
        return fitted, windows
    limit = max(1, window // 2)
    for index, offsets in zip(
        present, _offsets(tokenizer, [titles[i].strip() for i in present]), strict=True
    ):
        title = titles[index].strip()
        if not offsets:
            continue
        if len(offsets) > limit:
            title = title[: offsets[limit - 1][1]]
        fitted[index] = title
    used = _offsets(tokenizer, [titled(title, "") for title in fitted if title])
    for index, ids in zip([i for i, title in enumerate(fitted) if title], used, strict=True):
        windows[index] = max(1, window - len(ids))
    return fitted, windows


def chunk_texts(
    tokenizer: Any, texts: Sequence[str | None], window: int | Sequence[int], overlap: int
) -> list[list[str]]:
    """The chunks of each text, in order; an empty or null text has none.

    Args:
        tokenizer: a Hugging Face *fast* tokenizer (it gives character offsets).
        window: tokens per chunk, special tokens excluded; or one such number per text.
        overlap: tokens shared by consecutive chunks (less, where a text's window is smaller).
    """
    windows = [window] * len(texts) if isinstance(window, int) else list(window)
    present = [index for index, text in enumerate(texts) if text is not None and text.strip()]
    chunks: list[list[str]] = [[] for _ in texts]
    if not present:
        return chunks
    for index, offsets in zip(present, _offsets(tokenizer, [texts[i] for i in present]), strict=True):
        text = texts[index]
        if not offsets:  # only characters the tokenizer drops
            continue
        size = windows[index]
        chunks[index] = [
            text[offsets[first][0] : offsets[end - 1][1]]
            for first, end in token_windows(len(offsets), size, min(overlap, size - 1))
        ]
    return chunks


def _offsets(tokenizer: Any, texts: list[str]) -> list[list[tuple[int, int]]]:
    """Each text's tokens as (start, end) character offsets, special tokens left out."""
    if not texts:
        return []
    return tokenizer(
        texts,
        add_special_tokens=False,
        return_offsets_mapping=True,
        return_attention_mask=False,
        return_token_type_ids=False,
        truncation=False,
        verbose=False,
    )["offset_mapping"]

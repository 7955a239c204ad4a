"""Cutting documents into chunks that fit the model, with the model's own tokenizer.

A chunk holds at most ``window`` tokens (the model's maximum less its special tokens), and
consecutive chunks share ``overlap`` tokens, so a sentence cut by one chunk boundary is whole in
one of the two chunks. A chunk's text is the exact slice of the document its tokens came from
(the tokenizer's character offsets), so it reads as the original and embeds the same tokens.
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


def chunk_texts(tokenizer: Any, texts: Sequence[str | None], window: int, overlap: int) -> list[list[str]]:
    """The chunks of each text, in order; an empty or null text has none.

    Args:
        tokenizer: a Hugging Face *fast* tokenizer (it gives character offsets).
        window: tokens per chunk, special tokens excluded.
        overlap: tokens shared by consecutive chunks.
    """
    present = [index for index, text in enumerate(texts) if text is not None and text.strip()]
    chunks: list[list[str]] = [[] for _ in texts]
    if not present:
        return chunks
    encoded = tokenizer(
        [texts[index] for index in present],
        add_special_tokens=False,
        return_offsets_mapping=True,
        return_attention_mask=False,
        return_token_type_ids=False,
        truncation=False,
        verbose=False,
    )
    for index, offsets in zip(present, encoded["offset_mapping"], strict=True):
        text = texts[index]
        if not offsets:  # only characters the tokenizer drops
            continue
        chunks[index] = [
            text[offsets[first][0] : offsets[end - 1][1]]
            for first, end in token_windows(len(offsets), window, overlap)
        ]
    return chunks

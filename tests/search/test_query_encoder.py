"""The query encoder of the search service and the CLI gives the vectors sentence-transformers gives."""

from __future__ import annotations

import json
import shutil

import numpy as np

from lakehouse.config.embeddings import EmbeddingModelSettings
from lakehouse.embeddings.model import load_model, model_path
from lakehouse.embeddings.queries import QueryEncoder, _SentenceTransformerEncoder, load_query_encoder
from tests.embeddings.conftest import LONG_BODY

TEXTS = [
    "my parcel arrived crushed",
    "Where is order #1046?",
    "pandas.DataFrame.merge: merge DataFrame or named Series objects with a database-style join",
    " ".join([LONG_BODY] * 4),  # past the model's 256 tokens: cut as sentence-transformers cuts it
    "ok",
]


def test_the_query_encoder_matches_sentence_transformers(tmp_path):
    settings = EmbeddingModelSettings()
    encoder = load_query_encoder(settings)
    assert isinstance(encoder, QueryEncoder) and encoder.pooling == "mean" and encoder.normalize
    ours = encoder.encode(TEXTS)
    theirs = load_model(settings).encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.dtype == np.float32 and ours.shape == (5, 384)
    assert np.allclose(ours, theirs, atol=1e-5)
    assert np.allclose(encoder.encode(TEXTS[:1])[0], ours[0], atol=1e-6)  # batching changes nothing

    # a pipeline it does not run itself (here: pooling by mean / sqrt(length)) is sentence-transformers'
    folder = tmp_path / "model"
    shutil.copytree(model_path(settings), folder)
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_mean_sqrt_len_tokens=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    other = load_query_encoder(EmbeddingModelSettings(path=str(folder)))
    assert isinstance(other, _SentenceTransformerEncoder) and other.encode(TEXTS[:1]).shape == (1, 384)

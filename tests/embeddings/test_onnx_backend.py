"""The ONNX Runtime backends give the vectors torch gives (onnx: the same, onnx-int8: cosine >= 0.99),
export once into their cache, keep the outlier-prone matrices float32, and run in the Spark stage."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from lakehouse.config.embeddings import EmbeddingModelSettings
from lakehouse.embeddings import model as model_module
from lakehouse.embeddings import onnx as onnx_module
from lakehouse.embeddings.encode import embed_texts
from lakehouse.embeddings.model import load_encoder, prepare_model
from lakehouse.embeddings.onnx import OnnxEncoder
from lakehouse.embeddings.queries import load_query_encoder
from lakehouse.errors import EmbeddingError
from lakehouse.runs.runner import JobFailedError, run_job
from lakehouse.samples.docstrings import build_docstring_set
from tests.embeddings.conftest import LONG_BODY, TICKETS, embedding_settings, ticket_rows, write_tickets

# tickets written by hand, real documentation strings (numpy, pandas, the standard library), and a
# text past the model's 256 tokens, which every backend must cut where sentence-transformers cuts it
DOCSTRINGS = build_docstring_set(size=40)
TEXTS = [
    *(f"{subject}\n\n{body}" for _, _, _, _, subject, body, _ in TICKETS),
    *(
        f"{name}\n\n{body}"
        for name, body in zip(DOCSTRINGS.documents.name, DOCSTRINGS.documents.body, strict=True)
    ),
    *DOCSTRINGS.queries["query"],
    " ".join([LONG_BODY] * 4),
]


def exports(cache: str, backend: str) -> list[Path]:
    """The cache's export folders of ``backend`` (model-<backend>-<key>)."""
    name = re.compile(rf"model-{re.escape(backend)}-[0-9a-f]{{20}}")
    return [path for path in Path(cache).iterdir() if name.fullmatch(path.name)]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="module")
def torch_vectors():
    return load_encoder(EmbeddingModelSettings()).encode(TEXTS)


def test_onnx_gives_torchs_vectors_and_exports_once(cache, torch_vectors, monkeypatch):
    settings = EmbeddingModelSettings(backend="onnx", onnx_cache=cache)
    encoder = load_encoder(settings, threads=1)
    assert isinstance(encoder, OnnxEncoder) and encoder.max_seq_length == 256
    vectors = encoder.encode(TEXTS, batch_size=8)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors, torch_vectors, atol=2e-4)
    assert np.allclose(encoder.encode(TEXTS[:1])[0], vectors[0], atol=1e-5)  # batching changes nothing

    assert load_query_encoder(settings) is load_encoder(settings)  # queries: the tables' encoder

    # the export is made once: a process without it loaded finds it in the cache, exports nothing
    (export,) = [
        path for path in Path(cache).iterdir() if re.fullmatch(r"model-onnx-[0-9a-f]{20}", path.name)
    ]
    assert (export / "model.onnx").is_file() and (export / "export.json").is_file()

    def no_second_export(*args):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_module, "_export", no_second_export)
    monkeypatch.setattr(model_module, "_LOADED", {})
    again = load_encoder(settings, threads=1)
    assert again is not encoder and np.allclose(again.encode(TEXTS[:3]), vectors[:3], atol=1e-6)


def test_int8_stays_within_cosine_099_and_keeps_the_outlier_matrices_float(cache, torch_vectors):
    import onnx

    settings = EmbeddingModelSettings(backend="onnx-int8", onnx_cache=cache)
    vectors = load_encoder(settings, threads=1).encode(TEXTS)
    cosine = (vectors * torch_vectors).sum(axis=1)
    assert cosine.min() >= 0.99, TEXTS[int(cosine.argmin())][:80]

    # the same nearest neighbour for each docstring summary as torch finds
    summaries = slice(len(TICKETS) + len(DOCSTRINGS.documents), -1)
    documents = slice(len(TICKETS), len(TICKETS) + len(DOCSTRINGS.documents))
    ours = (vectors[summaries] @ vectors[documents].T).argmax(axis=1)
    theirs = (torch_vectors[summaries] @ torch_vectors[documents].T).argmax(axis=1)
    assert (ours == theirs).mean() >= 0.95

    (export,) = [
        path for path in Path(cache).iterdir() if re.fullmatch(r"model-onnx-int8-[0-9a-f]{20}", path.name)
    ]
    graph = onnx.load(str(export / "model.onnx")).graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    float_weights = [shapes[n.input[1]] for n in graph.node if n.op_type == "MatMul" and n.input[1] in shapes]
    # the first block's four attention and one up-projection, and every block's down-projection
    assert sorted(float_weights) == [(384, 384)] * 4 + [(384, 1536)] + [(1536, 384)] * 6
    assert sum(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in graph.node) == 25


def test_backend_settings_are_checked(tmp_path):
    with pytest.raises(ValidationError, match="backend"):
        EmbeddingModelSettings(backend="tensorrt")
    with pytest.raises(ValidationError, match="runs on the CPU; device cuda needs backend torch"):
        EmbeddingModelSettings(backend="onnx", device="cuda")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    unwritable = EmbeddingModelSettings(backend="onnx", onnx_cache=str(blocker / "onnx"))
    with pytest.raises(EmbeddingError, match=r"embeddings\.model\.onnx_cache: cannot write"):
        load_encoder(unwritable)
    with pytest.raises(EmbeddingError, match=r"embeddings\.model\.onnx_cache: cannot write"):
        prepare_model(unwritable)  # what embed_documents calls before Spark's workers load the model
    with pytest.raises(EmbeddingError, match=r"embeddings\.model\.path: no model at"):
        prepare_model(EmbeddingModelSettings(backend="onnx-int8", path=str(tmp_path)))


def test_the_spark_stage_runs_the_configured_backend(spark, cache, torch_vectors):
    rows = [(i, text) for i, text in enumerate(TEXTS[:6])]
    frame = spark.createDataFrame(rows, "id int, chunk_text string").repartition(2)
    settings = EmbeddingModelSettings(backend="onnx-int8", onnx_cache=cache, batch_size=4)
    embedded = {row.id: np.array(row.vector) for row in embed_texts(frame, settings).collect()}
    assert sorted(embedded) == list(range(6))
    cosine = [float(embedded[i] @ torch_vectors[i]) for i in range(6)]
    assert min(cosine) >= 0.99
    # and the 8-bit model ran, not torch: its vectors differ from torch's beyond float noise
    assert max(float(np.abs(embedded[i] - torch_vectors[i]).max()) for i in range(6)) > 1e-3


def test_embed_documents_names_a_wrong_model_folder_before_spark_runs_it(
    lakehouse_session, lakehouse_config, tmp_path
):
    spark = lakehouse_session
    settings = embedding_settings(backend="onnx-int8", path=str(tmp_path / "no-model"))
    config = lakehouse_config.model_copy(update={"embeddings": settings})
    write_tickets(spark, config, ticket_rows())
    with pytest.raises(JobFailedError) as error:
        run_job("embed_documents", config, spark=spark)
    message = str(error.value)
    assert "embeddings.model.path: no model at" in message and str(tmp_path / "no-model") in message
    assert "Traceback" not in message and "PythonException" not in message

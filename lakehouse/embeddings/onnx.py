"""The embedding model run by ONNX Runtime: exported once from the local weights, then cached.

``embeddings.model.backend: onnx`` runs the model's whole sentence-transformers pipeline
(transformer, pooling, normalisation) as one ONNX graph exported from the local folder with
``torch.onnx``; ``onnx-int8`` also quantises its weights to 8 bits (ONNX Runtime's dynamic
quantisation: int8 weights per output channel, activations quantised per batch).

Two kinds of weight matrices stay float32 in ``onnx-int8``, because one 8-bit range per batch of
activations cannot hold both their few very large values and the many small ones (BERT-like models
are known for such outliers): the feed-forward down-projections (more inputs than outputs: 1,536 to
384 in all-MiniLM-L6-v2) and every matrix of the first block (up to its down-projection). On 600
demo tickets (the 300 furthest from torch among 5,000, and 300 others), the lowest cosine to the
torch vectors was 0.9899 with only the down-projections kept float32 and 0.9940 with the first block
too, at the same speed. Over 50,000 tickets the lowest was 0.9878 (2 chunks below 0.99), which is
why ``onnx-int8`` is not the default (benchmarks/embeddings.py).

An export takes a few seconds and needs torch and sentence-transformers; it is written once per
model folder, backend and library versions into ``embeddings.model.onnx_cache`` (under a file
lock, and moved into place whole, so Python workers starting together export once and never read
half a file), and later runs only load it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import typing
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from lakehouse.config.embeddings import EmbeddingBackend
from lakehouse.embeddings.batches import encode_by_length
from lakehouse.errors import EmbeddingError

BACKENDS: tuple[str, ...] = typing.get_args(EmbeddingBackend)  # torch first, then the ONNX ones
EXPORT_FORMAT = 2  # bump when the export changes, so that cached files are made again
OPSET = 17
OUTPUT = "embedding"


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/lakehouse/onnx``, or ``~/.cache/lakehouse/onnx``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lakehouse" / "onnx"


def export_key(folder: Path, backend: str) -> str:
    """What a cached export depends on: the model folder's files (name, size, time), the backend and
    the versions of the libraries that write and run it."""
    from importlib.metadata import version  # not the modules: loading an export needs no torch

    libraries = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime")
    versions = "|".join([str(EXPORT_FORMAT), backend, *(version(name) for name in libraries)])
    digest = hashlib.sha256(versions.encode())
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = file.stat()
        digest.update(f"|{file.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


def exported_model(folder: Path, backend: str, cache: Path | None = None) -> Path:
    """The folder holding ``model.onnx`` and ``export.json`` for ``backend``: made on first use.

    Raises:
        EmbeddingError: the cache folder cannot be written, or the model cannot be exported.
    """
    if backend not in BACKENDS[1:]:
        raise EmbeddingError(f"embeddings.model.backend: {backend!r} is not an ONNX backend")
    target = (cache or default_cache()) / f"{folder.name}-{backend}-{export_key(folder, backend)}"
    if (target / "export.json").is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.parent / f".{target.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # workers starting together: one exports, the others wait
            if not (target / "export.json").is_file():
                _export_into(folder, backend, target)
    except OSError as error:
        raise EmbeddingError(
            f"embeddings.model.onnx_cache: cannot write the ONNX export of {folder} "
            f"into {target.parent}: {error}"
        ) from error
    return target


def _export_into(folder: Path, backend: str, target: Path) -> None:
    """Export into a fresh folder beside ``target``, then move it into place whole."""
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        _export(folder, backend, work)
        try:
            os.replace(work, target)
        except OSError:
            # another host sharing the cache (where the lock may not hold) put one in place first
            if not (target / "export.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _export(folder: Path, backend: str, work: Path) -> None:
    """Write the pipeline as ``model.onnx`` (quantised for onnx-int8) and its ``export.json``."""
    try:
        import torch
        from sentence_transformers import SentenceTransformer

        pipeline = SentenceTransformer(str(folder), device="cpu", local_files_only=True).eval()
    except Exception as error:  # a folder sentence-transformers cannot load, named with the key
        raise EmbeddingError(f"embeddings.model.path: cannot load {folder} to export it: {error}") from error
    tokenizer = pipeline.tokenizer
    names = list(tokenizer.model_input_names)
    meta = {
        "inputs": names,
        "max_length": int(pipeline.max_seq_length),
        "lower_case": bool(getattr(pipeline[0], "do_lower_case", False)),
        "dimension": int(pipeline.get_embedding_dimension()),
        "backend": backend,
    }

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pipeline = pipeline

        def forward(self, *tensors: Any) -> Any:
            return self.pipeline(dict(zip(names, tensors, strict=True)))["sentence_embedding"]

    sample = tokenizer(["an example", "a second, longer example"], padding=True, return_tensors="pt")
    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "tokens"} for name in names}
    axes[OUTPUT] = {0: "batch"}
    plain = work / ("float.onnx" if backend == "onnx-int8" else "model.onnx")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pipeline(),
                tuple(sample[name] for name in names),
                str(plain),
                input_names=names,
                output_names=[OUTPUT],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        if backend == "onnx-int8":
            _quantise(plain, work / "model.onnx")
            plain.unlink()
    except Exception as error:  # torch and onnxruntime raise many kinds; name the model and the backend
        message = f"embeddings.model.backend: cannot export {folder} to {backend}: {error}"
        raise EmbeddingError(message) from error
    (work / "export.json").write_text(json.dumps(meta, indent=2))


def _quantise(source: Path, target: Path) -> None:
    """8-bit weights per output channel, but the first block's and the down-projections' stay float32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    weighted = [
        (node.name, shapes[node.input[1]])
        for node in graph.node  # in the order they run
        if node.op_type == "MatMul" and len(shapes.get(node.input[1], ())) == 2
    ]
    down = [index for index, (_, (inputs, outputs)) in enumerate(weighted) if inputs > outputs]
    first_block = range(down[0] + 1) if down else range(0)
    kept = {weighted[index][0] for index in [*first_block, *down]}
    quiet = _QuantiserAdvice()
    logging.getLogger().addFilter(quiet)  # it logs advice on the root logger
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=sorted(kept),
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        logging.getLogger().removeFilter(quiet)


class _QuantiserAdvice(logging.Filter):
    """Drops the records ONNX Runtime's quantiser logs (advice about pre-processing), only those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname


class OnnxEncoder:
    """The exported pipeline in an ONNX Runtime session: texts in, unit-length float32 vectors out.

    Attributes:
        tokenizer: the model's (fast) tokenizer, as sentence-transformers uses it.
        max_seq_length: tokens per text, special tokens included; longer texts are cut.
        dimension: the vectors' length.
    """

    def __init__(self, folder: Path, export: Path, threads: int | None = None):
        import onnxruntime
        import transformers

        transformers.logging.set_verbosity_error()
        meta = json.loads((export / "export.json").read_text())
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.max_seq_length = int(meta["max_length"])
        self.dimension = int(meta["dimension"])
        self._inputs, self._lower_case = list(meta["inputs"]), bool(meta["lower_case"])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or 0  # 0: ONNX Runtime's default, one per core
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self._session = onnxruntime.InferenceSession(
            str(export / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """One unit-length float32 vector per text; texts of similar length share a batch."""
        texts = [str(text).strip() for text in texts]
        if self._lower_case:
            texts = [text.lower() for text in texts]
        vectors = encode_by_length(texts, self.dimension, batch_size, self._batch)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def _batch(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer(
            texts,
            padding=True,
            truncation="longest_first",
            max_length=self.max_seq_length,
            return_tensors="np",
        )
        feed = {name: encoded[name].astype(np.int64) for name in self._inputs}
        return self._session.run([OUTPUT], feed)[0]

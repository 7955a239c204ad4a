"""Spark stages that run the model: cut documents into chunks, and embed chunks.

Both run in the Python workers through Arrow (``mapInArrow``), with the model loaded once per
worker process (:func:`lakehouse.embeddings.model.load_encoder`); vectors go back to the JVM as one
flat float32 buffer per batch, never as Python lists.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.embeddings import EmbeddingModelSettings
from lakehouse.embeddings.chunking import chunk_texts, fit_titles, titled
from lakehouse.embeddings.model import load_encoder, max_tokens

VECTOR_TYPE = T.ArrayType(T.FloatType(), containsNull=False)


def worker_threads(settings: EmbeddingModelSettings, task_cpus: int) -> int:
    """Threads per Python worker (torch or ONNX Runtime): ``threads``, or one task's cores when ``auto``."""
    return settings.threads if isinstance(settings.threads, int) else max(1, task_cpus)


def task_cpus(frame: DataFrame) -> int:
    return int(frame.sparkSession.conf.get("spark.task.cpus", "1") or 1)


def chunk_documents(documents: DataFrame, settings: EmbeddingModelSettings) -> DataFrame:
    """One row per chunk of each document: ``document_id``, ``chunk_id`` (0, 1, ...), ``chunk_text``,
    ``embedded_text`` (the text to embed: the document's title, a blank line and the chunk, or the
    chunk alone), ``content_hash`` (SHA-256 of ``embedded_text``).

    Args:
        documents: ``document_id``, ``text`` and optionally ``title``; other columns are ignored.
    """
    threads = worker_threads(settings, task_cpus(documents))
    id_type = documents.schema["document_id"].dataType
    has_title = "title" in documents.columns
    schema = T.StructType(
        [
            T.StructField("document_id", id_type, False),
            T.StructField("chunk_id", T.IntegerType(), False),
            T.StructField("chunk_text", T.StringType(), False),
            T.StructField("embedded_text", T.StringType(), False),
        ]
    )

    def chunk(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        model = load_encoder(settings, threads)
        window = max_tokens(settings, model) - model.tokenizer.num_special_tokens_to_add()
        overlap = min(settings.overlap, window - 1)
        for batch in batches:
            ids = batch.column("document_id")
            texts = batch.column("text").to_pylist()
            titles: list[str | None] = [None] * len(texts)
            windows: int | list[int] = window
            if has_title:
                titles, windows = fit_titles(model.tokenizer, batch.column("title").to_pylist(), window)
            chunks = chunk_texts(model.tokenizer, texts, windows, overlap)
            pairs = zip(titles, chunks, strict=True)
            embedded = [titled(title, part) for title, parts in pairs for part in parts]
            counts = np.fromiter((len(parts) for parts in chunks), dtype=np.int64, count=len(chunks))
            first = np.cumsum(counts) - counts  # each document's first row among the chunks
            # a chunk's number within its document: its row less its document's first row
            chunk_ids = (np.arange(counts.sum()) - np.repeat(first, counts)).astype(np.int32)
            yield pa.RecordBatch.from_arrays(
                [
                    ids.take(pa.array(np.repeat(np.arange(len(chunks)), counts))),
                    pa.array(chunk_ids),
                    pa.array([part for parts in chunks for part in parts], type=pa.string()),
                    pa.array(embedded, type=pa.string()),
                ],
                schema=pa.schema(
                    [
                        ("document_id", ids.type, False),
                        ("chunk_id", pa.int32(), False),
                        ("chunk_text", pa.string(), False),
                        ("embedded_text", pa.string(), False),
                    ]
                ),
            )

    columns = ["document_id", "text", *(["title"] if has_title else [])]
    chunks = documents.select(*columns).mapInArrow(chunk, schema)
    return chunks.withColumn("content_hash", F.sha2("embedded_text", 256))


def embed_texts(frame: DataFrame, settings: EmbeddingModelSettings, text: str = "chunk_text") -> DataFrame:
    """``frame`` with a ``vector`` column: the L2-normalised embedding of ``text``.

    Columns pass through unchanged; keep ``frame`` to plain columns (ids, strings, numbers).
    """
    threads = worker_threads(settings, task_cpus(frame))
    schema = T.StructType([*frame.schema.fields, T.StructField("vector", VECTOR_TYPE, False)])

    def embed(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        model = load_encoder(settings, threads)
        for batch in batches:
            vectors = model.encode(batch.column(text).to_pylist(), batch_size=settings.batch_size)
            flat = pa.array(vectors.reshape(-1))
            offsets = pa.array(np.arange(0, vectors.size + 1, vectors.shape[1], dtype=np.int32))
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, pa.ListArray.from_arrays(offsets, flat)],
                names=[*batch.schema.names, "vector"],
            )

    return frame.mapInArrow(embed, schema)

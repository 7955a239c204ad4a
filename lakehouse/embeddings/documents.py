"""Pure steps of an incremental embedding run: documents, what changed, the rows to write.

An embedding table holds one row per chunk. A document is re-chunked when its ``document_hash``
(its text, title and metadata) or the model changed; of its new chunks, only those whose embedded
text (its ``content_hash``: the chunk, after the document's title when the table has one) the table
does not hold yet for this model are embedded, the others keep their vector. Chunks of deleted
documents, and chunks past the new end of a shortened document, go.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.embeddings import EMBEDDING_COLUMNS, EmbeddingTableSettings
from lakehouse.embeddings.encode import VECTOR_TYPE
from lakehouse.errors import EmbeddingError
from lakehouse.io.table_spec import TableSpec

KEY = ("document_id", "chunk_id")
TEXT_SEPARATOR = "\n\n"

COMMENTS = {
    "document_id": "The source row's id",
    "chunk_id": "Position of the chunk in its document, from 0",
    "chunk_text": "The chunk: a slice of the document's text that fits the model",
    "vector": "L2-normalised embedding of chunk_text (cosine similarity = dot product)",
    "model": "The model that embedded the chunk",
    "dimension": "Length of vector",
    "content_hash": "SHA-256 of the text embedded: the title, a blank line and chunk_text (chunk_text alone "
    "without a title)",
    "document_hash": "SHA-256 of the document's text, title and metadata when it was chunked",
    "embedded_at": "When the vector was computed",
}
TITLE = "title"


def documents(source: DataFrame, settings: EmbeddingTableSettings, name: str) -> DataFrame:
    """One row per source row: ``document_id``, ``text``, ``title`` (with a title column),
    ``document_hash``, then the metadata.

    Raises:
        EmbeddingError: a configured column is missing.
    """
    titled = [settings.title] if settings.title else []
    wanted = [settings.id, *settings.text, *titled, *settings.metadata]
    missing = [c for c in wanted if c not in source.columns]
    if missing:
        raise EmbeddingError(
            f"embeddings.tables.{name}: {settings.source} has no column(s) {missing}; it has {source.columns}"
        )
    text = F.concat_ws(TEXT_SEPARATOR, *[F.col(column).cast("string") for column in settings.text])
    # a table without a title keeps the hash it had before titles existed: nothing re-embeds
    title = [F.col(settings.title).cast("string").alias(TITLE)] if settings.title else []
    fingerprint = F.to_json(F.struct(text.alias("text"), *title, *[F.col(c) for c in settings.metadata]))
    return source.select(
        F.col(settings.id).alias("document_id"),
        text.alias("text"),
        *title,
        F.sha2(fingerprint, 256).alias("document_hash"),
        *settings.metadata,
    ).where(F.col("document_id").isNotNull())


def duplicate_ids(docs: DataFrame, limit: int = 5) -> list:
    """Up to ``limit`` document ids held by more than one row."""
    rows = docs.groupBy("document_id").count().where("count > 1").limit(limit).collect()
    return [row["document_id"] for row in rows]


@dataclass(frozen=True)
class Changes:
    """What an embedding run must do.

    Attributes:
        changed: documents (rows of :func:`documents`) that are new, edited or chunked by
            another model: they are chunked again.
        deleted: ``document_id`` of documents gone from the source.
    """

    changed: DataFrame
    deleted: DataFrame


def changes(docs: DataFrame, existing: DataFrame, model: str, everything: bool = False) -> Changes:
    """Documents to chunk again (all of them with ``everything``), and documents to remove,
    against the embedding table."""
    held = existing.select("document_id", "document_hash", "model").distinct()
    current = held.where(F.col("model") == model).drop("model")
    changed = docs if everything else docs.join(current, ["document_id", "document_hash"], "left_anti")
    deleted = (
        held.select("document_id").distinct().join(docs.select("document_id"), "document_id", "left_anti")
    )
    return Changes(changed, deleted)


def reusable(chunks: DataFrame, existing: DataFrame, model: str) -> DataFrame:
    """The chunks whose text the table already embedded with ``model``, with that vector."""
    kept = existing.where(F.col("model") == model).select(*KEY, "content_hash", "vector", "embedded_at")
    return chunks.join(kept, [*KEY, "content_hash"], "inner")


def to_embed(chunks: DataFrame, existing: DataFrame, model: str) -> DataFrame:
    """The chunks whose text the table has no vector of, for ``model``."""
    kept = existing.where(F.col("model") == model).select(*KEY, "content_hash")
    return chunks.join(kept, [*KEY, "content_hash"], "left_anti")


def embedding_rows(
    vectors: DataFrame,
    changed: DataFrame,
    model: str,
    metadata: list[str],
    embedded_at: dt.datetime | None,
    title: bool = False,
) -> DataFrame:
    """Rows of the embedding table: chunks with their vector, joined to their document's metadata.

    Args:
        vectors: ``document_id, chunk_id, chunk_text, content_hash, vector`` and, for reused
            vectors, ``embedded_at``.
        embedded_at: the time of vectors computed now (those without ``embedded_at``).
        title: the table has a ``title`` column (taken from ``changed``).
    """
    when = F.lit(embedded_at).cast("timestamp")
    stamped = vectors if "embedded_at" in vectors.columns else vectors.withColumn("embedded_at", when)
    titled = [TITLE] if title else []
    document = changed.select("document_id", "document_hash", *titled, *metadata)
    return stamped.join(document, "document_id").select(
        *KEY,
        "chunk_text",
        "vector",
        F.lit(model).alias("model"),
        F.size("vector").alias("dimension"),
        "content_hash",
        "document_hash",
        F.coalesce("embedded_at", when).alias("embedded_at"),
        *titled,
        *metadata,
    )


def stale_chunks(existing: DataFrame, changes_: Changes) -> DataFrame:
    """Keys of the table's chunks whose document changed or went (those re-written are kept by the MERGE)."""
    touched = changes_.changed.select("document_id").unionByName(changes_.deleted)
    return existing.select(*KEY).join(touched, "document_id", "left_semi")


def embedding_spec(table: str, source: DataFrame, settings: EmbeddingTableSettings) -> TableSpec:
    """The embedding table: the columns of :data:`EMBEDDING_COLUMNS`, ``title`` when the table has
    one, then the metadata columns."""
    types = {
        "document_id": source.schema[settings.id].dataType,
        "chunk_id": T.IntegerType(),
        "chunk_text": T.StringType(),
        "vector": VECTOR_TYPE,
        "model": T.StringType(),
        "dimension": T.IntegerType(),
        "content_hash": T.StringType(),
        "document_hash": T.StringType(),
        "embedded_at": T.TimestampType(),
    }
    fields = [T.StructField(c, types[c], False, {"comment": COMMENTS[c]}) for c in EMBEDDING_COLUMNS]
    if settings.title:
        comment = f"{settings.source}.{settings.title}: the document's title, embedded with each chunk"
        fields.append(T.StructField(TITLE, T.StringType(), True, {"comment": comment}))
    fields += [
        T.StructField(c, source.schema[c].dataType, True, {"comment": f"{settings.source}.{c}"})
        for c in settings.metadata
    ]
    return TableSpec(
        name=table,
        schema=T.StructType(fields),
        key=KEY,
        comment=f"Embeddings of {settings.source} ({', '.join(settings.text)}), one row per chunk",
        properties={"delta.enableChangeDataFeed": "true"},
        drift="evolve",  # a title or metadata column configured later is added to the table
    )

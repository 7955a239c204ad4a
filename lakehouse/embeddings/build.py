"""An incremental embedding run of one table of ``embeddings.tables`` (the ``embed_documents`` job)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame

from lakehouse.config.embeddings import EmbeddingModelSettings, EmbeddingsSettings, EmbeddingTableSettings
from lakehouse.embeddings import documents as steps
from lakehouse.embeddings.encode import chunk_documents, embed_texts
from lakehouse.embeddings.model import prepare_model
from lakehouse.errors import EmbeddingError
from lakehouse.io.delta_store import DeltaStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddingResult:
    """What one run did to an embedding table.

    Attributes:
        documents: documents in the source.
        changed: documents chunked again (new, edited, or another model).
        deleted: documents gone from the source, whose chunks were removed.
        embedded: chunks embedded by this run (the others kept their vector).
        inserted, updated, removed: rows of the embedding table.
        version: the table's Delta version after the run.
    """

    name: str
    table: str
    model: str
    documents: int
    changed: int
    deleted: int
    embedded: int
    inserted: int
    updated: int
    removed: int
    version: int


def embed_table(
    tables: DeltaStore, embeddings: EmbeddingsSettings, name: str, full_refresh: bool = False
) -> EmbeddingResult:
    """Bring ``gold.<name>_embeddings`` up to date with its source table.

    Args:
        tables: the run's table store.
        embeddings: the ``embeddings`` section of the configuration.
        name: the embedding table (``embeddings.tables.<name>``).
        full_refresh: embed every chunk again, even those the table holds for this model.

    Raises:
        EmbeddingError: a configured column is missing, or document ids are not unique.
    """
    settings = embeddings.tables[name]
    model = embeddings.model_of(name)
    prepare_model(model)  # a wrong model folder or a failed export, named here, not from a worker
    table = embeddings.table(name)
    source = tables.read(settings.source)
    docs = _unique_documents(source, settings, name)
    spec = steps.embedding_spec(table, source, settings)
    tables.create(spec)
    existing = tables.read(table)
    changes = steps.changes(docs, existing, model.name, everything=full_refresh)
    changes = steps.Changes(changes.changed.persist(), changes.deleted.persist())
    changed, deleted = changes.changed.count(), changes.deleted.count()
    total = docs.count()
    if not changed and not deleted:
        log.info("%s: up to date with %s (%d documents, model %s)", table, settings.source, total, model.name)
        changes.changed.unpersist()
        changes.deleted.unpersist()
        return EmbeddingResult(name, table, model.name, total, 0, 0, 0, 0, 0, 0, tables.version(table))
    held = existing.limit(0) if full_refresh else existing  # vectors that may be kept
    chunks, vectors = _embed_chunks(changes.changed, held, model)
    embedded = vectors.count()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    kept = steps.reusable(chunks, held, model.name)
    rows = steps.embedding_rows(
        vectors.unionByName(kept, allowMissingColumns=True),
        changes.changed,
        model.name,
        settings.metadata,
        now,
        title=settings.title is not None,
    )
    try:
        metrics = tables.sync(table, rows, steps.stale_chunks(existing, changes), steps.KEY, spec=spec)
    finally:
        for frame in (vectors, chunks, changes.changed, changes.deleted):
            frame.unpersist()
    counts = (total, changed, deleted, embedded, metrics["inserted"], metrics["updated"], metrics["deleted"])
    result = EmbeddingResult(name, table, model.name, *counts, tables.version(table))
    log.info(
        "%s: %d of %d documents changed, %d deleted; %d chunks embedded with %s; rows +%d ~%d -%d (v%d)",
        table, changed, total, deleted, embedded, model.name,
        result.inserted, result.updated, result.removed, result.version,
    )  # fmt: skip
    return result


def _embed_chunks(
    changed: DataFrame, held: DataFrame, model: EmbeddingModelSettings
) -> tuple[DataFrame, DataFrame]:
    """The chunks of the changed documents, and the vectors of those ``held`` has none for
    (both persisted: unpersist them after)."""
    parallelism = changed.sparkSession.sparkContext.defaultParallelism
    chunks = chunk_documents(changed.repartition(parallelism), model).persist()
    pending = steps.to_embed(chunks, held, model.name).repartition(parallelism)
    vectors = embed_texts(pending, model, text="embedded_text")
    return chunks, vectors.persist(StorageLevel.MEMORY_AND_DISK)


def _unique_documents(source: DataFrame, settings: EmbeddingTableSettings, name: str) -> DataFrame:
    """The documents of the source table, refused when two rows share a document id."""
    docs = steps.documents(source, settings, name)
    duplicates = steps.duplicate_ids(docs)
    if duplicates:
        raise EmbeddingError(
            f"embeddings.tables.{name}: {settings.source}.{settings.id} is not unique "
            f"(e.g. {duplicates}); a document id must name one row"
        )
    return docs

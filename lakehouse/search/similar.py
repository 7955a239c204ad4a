"""Similarity joins with SynapseML's KNN: for each document, its most similar earlier documents.

SynapseML's ``KNN`` (or ``ConditionalKNN``, when matches must share a metadata value such as the
product) builds a ball tree of the table's chunk vectors on the driver, broadcasts it, and answers
maximum-inner-product queries in the executors: on normalised vectors, the most cosine-similar
chunks. A document's chunks each query ``k`` x 4 + 8 neighbours; neighbours from the document
itself or written at or after it are dropped, a matched document scores by its best chunk, and the
``k`` best remain. (So a document with more than 3k + 8 later near-duplicates can get fewer than
``k`` earlier matches; the earlier ones it gets are the most similar.)
"""

from __future__ import annotations

import datetime as dt

from pyspark.ml.functions import array_to_vector
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakehouse.config.model import SimilarSettings
from lakehouse.errors import VectorSearchError
from lakehouse.io.table_spec import TableSpec
from lakehouse.runs.context import JobContext

NO_VALUE = "\u2205"  # the condition label of documents whose condition column is null


def similar_documents(chunks: DataFrame, queries: DataFrame, settings: SimilarSettings) -> DataFrame:
    """The ``k`` most similar earlier documents of each document in ``queries``.

    Args:
        chunks: the candidates: embedding table rows (``document_id``, ``vector``, the ``time``
            and ``condition`` columns).
        queries: the chunks of the documents to match (same columns).

    Returns:
        ``document_id``, ``rank`` (1 = most similar), ``similar_document_id``, ``score`` (cosine).
    """
    from synapse.ml.nn import KNN, ConditionalKNN

    wanted = settings.k * 4 + 8

    def prepared(frame: DataFrame) -> DataFrame:
        label = (
            F.coalesce(F.col(settings.condition).cast("string"), F.lit(NO_VALUE))
            if settings.condition
            else F.lit(NO_VALUE)
        )
        return frame.select(
            "document_id",
            F.col(settings.time).alias("_time"),
            array_to_vector("vector").alias("_features"),
            label.alias("_label"),
        )

    candidates, asking = prepared(chunks), prepared(queries)
    if settings.condition:
        knn = ConditionalKNN(labelCol="_label", conditionerCol="_conditioner")
        asking = asking.withColumn("_conditioner", F.array("_label"))
    else:
        knn = KNN()
    knn = knn.setFeaturesCol("_features").setValuesCol("document_id").setOutputCol("_matches")
    model = knn.setK(wanted).setLeafSize(settings.leaf_size).fit(candidates)
    times = candidates.select(
        F.col("document_id").alias("similar_document_id"), F.col("_time").alias("_then")
    )
    times = times.distinct()
    matches = (
        model.transform(asking)
        .select("document_id", "_time", F.explode("_matches").alias("_match"))
        .select(
            "document_id",
            "_time",
            F.col("_match.value").alias("similar_document_id"),
            F.col("_match.distance").alias("score"),  # SynapseML's "distance" is the inner product
        )
        .where(F.col("similar_document_id") != F.col("document_id"))
        .join(times, "similar_document_id")
        .where(F.col("_then") < F.col("_time"))
        .groupBy("document_id", "similar_document_id")
        .agg(F.max("score").alias("score"))
    )
    ranked = Window.partitionBy("document_id").orderBy(F.desc("score"), "similar_document_id")
    return (
        matches.withColumn("rank", F.row_number().over(ranked))
        .where(F.col("rank") <= settings.k)
        .select("document_id", F.col("rank").cast("int"), "similar_document_id", F.col("score").cast("float"))
    )


def similar_spec(table: str, id_type, settings: SimilarSettings) -> TableSpec:
    comments = {
        "document_id": "The document matched",
        "rank": "1 = the most similar earlier document",
        "similar_document_id": f"An earlier document (by {settings.time})",
        "score": "Cosine similarity of the two documents' most similar chunks",
        "document_hash": "document_hash of the document when it was matched",
        "model": "The embedding model",
        "matched_at": "When the similarity join ran",
    }
    types = {
        "document_id": id_type,
        "rank": T.IntegerType(),
        "similar_document_id": id_type,
        "score": T.FloatType(),
        "document_hash": T.StringType(),
        "model": T.StringType(),
        "matched_at": T.TimestampType(),
    }
    return TableSpec(
        name=table,
        schema=T.StructType([T.StructField(c, t, False, {"comment": comments[c]}) for c, t in types.items()]),
        key=("document_id", "rank"),
        comment=f"For each document of {settings.embeddings}, its {settings.k} most similar earlier documents"
        + (f" with the same {settings.condition}" if settings.condition else ""),
    )


def update_similar(context: JobContext, name: str) -> dict[str, int]:
    """Match the documents of the embedding table that are new or changed since the last run into
    ``gold.<name>``; remove the matches of deleted documents.

    Returns:
        ``documents`` matched, and the MERGE's ``inserted``, ``updated``, ``deleted`` rows.
    """
    embeddings = context.config.embeddings
    settings = embeddings.similar[name]
    source = embeddings.table(settings.embeddings)
    table = f"gold.{name}"
    if not context.tables.exists(source):
        raise VectorSearchError(f"no table {source} to match: run `lakehouse run embed_documents` first")
    chunks = context.tables.read(source)
    spec = similar_spec(table, chunks.schema["document_id"].dataType, settings)
    context.tables.create(spec)
    existing = context.tables.read(table)
    documents = chunks.select("document_id", "document_hash", "model").distinct()
    todo = documents.join(
        existing.select("document_id", "document_hash").distinct(),
        ["document_id", "document_hash"],
        "left_anti",
    ).persist()
    gone = existing.select("document_id").distinct().join(documents, "document_id", "left_anti")
    count = todo.count()
    stale = existing.select("document_id", "rank").join(
        todo.select("document_id").unionByName(gone), "document_id", "left_semi"
    )
    if count == 0 and gone.isEmpty():
        todo.unpersist()
        context.log.info("%s: every document of %s is matched", table, source)
        return {"documents": 0, "inserted": 0, "updated": 0, "deleted": 0}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    queries = chunks.join(todo.select("document_id"), "document_id", "left_semi")
    matched = similar_documents(chunks, queries, settings).join(todo, "document_id").select(
        "document_id", "rank", "similar_document_id", "score", "document_hash", "model",
        F.lit(now).cast("timestamp").alias("matched_at"),
    )  # fmt: skip
    try:
        metrics = context.tables.sync(table, matched, stale, ["document_id", "rank"], spec=spec)
    finally:
        todo.unpersist()
    context.log.info(
        "%s: %d documents of %s matched with SynapseML %s; rows +%d ~%d -%d",
        table, count, source, "ConditionalKNN" if settings.condition else "KNN",
        metrics["inserted"], metrics["updated"], metrics["deleted"],
    )  # fmt: skip
    return {"documents": count, **metrics}

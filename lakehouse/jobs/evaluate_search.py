"""The ``evaluate_search`` job: retrieval quality of each embedding table on its labelled set."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from pyspark.sql import types as T

from lakehouse.config.model import LakehouseConfig
from lakehouse.errors import VectorSearchError
from lakehouse.io import files
from lakehouse.io.table_spec import TableSpec
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Choices, Job, for_each
from lakehouse.search.api import Searcher
from lakehouse.search.evaluation import retrieval_metrics

RESULTS_TABLE = "gold.search_evaluations"
RESULTS_SCHEMA = T.StructType(
    [
        T.StructField("evaluation", T.StringType(), False),
        T.StructField("table", T.StringType(), False),
        T.StructField("table_version", T.LongType(), False),
        T.StructField("method", T.StringType(), False, {"comment": "index or exact"}),
        T.StructField("k", T.IntegerType(), False),
        T.StructField("queries", T.IntegerType(), False),
        T.StructField("recall_at_k", T.DoubleType(), False),
        T.StructField("precision_at_k", T.DoubleType(), False),
        T.StructField("mrr", T.DoubleType(), False),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("evaluated_at", T.TimestampType(), False),
    ]
)


@dataclass(frozen=True)
class EvaluateSearchParams:
    evaluation: str = "all"  # an evaluation of embeddings.evaluations, a comma-separated list, or all


class EvaluateSearchJob(Job):
    name = "evaluate_search"
    summary = "Recall@k, precision@k and MRR of index and exact search on labelled queries."
    Params = EvaluateSearchParams

    @classmethod
    def choices(cls, config: LakehouseConfig, params: Any) -> dict[str, Choices]:
        """``evaluation`` picks labelled sets of embeddings.evaluations."""
        evaluations = list(config.embeddings.evaluations)
        return {"evaluation": Choices.of(evaluations, "embeddings.evaluations (embeddings.yml)")}

    def run(self, context: JobContext) -> None:
        names = self.selected(context.config, context.params, "evaluation")
        evaluated: dict[str, list[tuple]] = {}

        def run_one(name: str) -> None:
            evaluated[name] = evaluate(context, name)

        try:
            for_each(names, run_one, context.log, "evaluation", "evaluations")
        finally:  # the evaluations that worked are recorded, even when another failed
            rows = [row for done in evaluated.values() for row in done]
            if rows:
                frame = context.spark.createDataFrame(rows, RESULTS_SCHEMA)
                spec = TableSpec(
                    RESULTS_TABLE, RESULTS_SCHEMA, comment="Retrieval quality per evaluation run"
                )
                context.tables.append(RESULTS_TABLE, frame, spec=spec)


def evaluate(context: JobContext, name: str) -> list[tuple]:
    """Search every labelled query with the index and exactly; one result row per method."""
    settings = context.config.embeddings.evaluations[name]
    located = {
        kind: context.layout.files_location(getattr(settings, kind)) for kind in ("queries", "relevance")
    }
    for kind, location in located.items():
        if not files.exists(context.spark, location):
            raise VectorSearchError(
                f"embeddings.evaluations.{name}.{kind}: nothing at {location} (for the demo, run demo_data)"
            )
    queries = context.spark.read.parquet(located["queries"]).select("query_id", "query").collect()
    searcher = Searcher(context.config, settings.embeddings, context.spark)
    table = context.tables.read(searcher.table).select("document_id").distinct()
    # only documents the table holds count (the generator's malformed tickets never reach silver)
    pairs = context.spark.read.parquet(located["relevance"]).join(table, "document_id").collect()
    relevant: dict[int, set] = {}
    for pair in pairs:
        relevant.setdefault(pair.query_id, set()).add(pair.document_id)
    texts = [query.query for query in queries]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    rows = []
    for exact in (False, True):
        results = searcher.search(texts, settings.k, exact=exact, mode="vector")
        ranked = {q.query_id: [h.document_id for h in r.hits] for q, r in zip(queries, results, strict=True)}
        metrics = retrieval_metrics(ranked, relevant, settings.k)
        method = results[0].method if results else ("exact" if exact else "index")
        context.log.info(
            "evaluation %s (%s, %s search, %d queries): recall@%d %.3f, precision@%d %.3f, MRR %.3f",
            name, searcher.table, method, metrics.queries, settings.k, metrics.recall_at_k, settings.k,
            metrics.precision_at_k, metrics.mrr,
        )  # fmt: skip
        values = asdict(metrics)
        context.metrics.update(
            {
                f"{name}.{method}.recall@{settings.k}": metrics.recall_at_k,
                f"{name}.{method}.precision@{settings.k}": metrics.precision_at_k,
                f"{name}.{method}.mrr": metrics.mrr,
            }
        )
        version = results[0].table_version if results else context.tables.version(searcher.table)
        rows.append(
            (name, searcher.table, version, method, settings.k, values["queries"], values["recall_at_k"],
             values["precision_at_k"], values["mrr"], context.run_id, now)
        )  # fmt: skip
    return rows

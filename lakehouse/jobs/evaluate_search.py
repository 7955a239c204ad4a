"""The ``evaluate_search`` job: retrieval quality of each embedding table on its labelled sets.

Each evaluation of ``embeddings.evaluations`` is measured in every search mode the table allows:
``vector``, ``keyword`` and ``hybrid`` from its index, and ``vector`` scored exactly by Spark
(:func:`lakehouse.search.evaluation.evaluate_modes`). One row per mode goes to
``gold.search_evaluations``, and a table of recall@1, @5, @10 and MRR is printed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pyspark.sql import types as T

from lakehouse.config.model import LakehouseConfig
from lakehouse.errors import VectorSearchError
from lakehouse.io import files
from lakehouse.io.table_spec import TableSpec
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Choices, Job, for_each
from lakehouse.search.api import Searcher
from lakehouse.search.evaluation import CUTOFFS, ModeEvaluation, measure_labelled_set, read_labelled_set

RESULTS_TABLE = "gold.search_evaluations"
# mode and the recall@1/5/10, MRR@10 columns came later: rows written before them hold nulls there
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
        T.StructField("mrr", T.DoubleType(), False, {"comment": "mean reciprocal rank over the top k"}),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("evaluated_at", T.TimestampType(), False),
        T.StructField("mode", T.StringType(), True, {"comment": "vector, keyword or hybrid"}),
        *[T.StructField(f"recall_at_{cutoff}", T.DoubleType(), True) for cutoff in CUTOFFS],
        T.StructField("mrr_at_10", T.DoubleType(), True, {"comment": "mean reciprocal rank over the top 10"}),
    ]
)
RESULTS_SPEC = TableSpec(
    RESULTS_TABLE,
    RESULTS_SCHEMA,
    comment="Retrieval quality per evaluation run and search mode",
    drift="evolve",  # a table written before the mode columns gains them
)


@dataclass(frozen=True)
class EvaluateSearchParams:
    evaluation: str = "all"  # an evaluation of embeddings.evaluations, a comma-separated list, or all


class EvaluateSearchJob(Job):
    name = "evaluate_search"
    summary = "Recall@1/5/10 and MRR of vector, keyword and hybrid search on labelled queries."
    Params = EvaluateSearchParams

    @classmethod
    def choices(cls, config: LakehouseConfig, params: Any) -> dict[str, Choices]:
        """``evaluation`` picks labelled sets of embeddings.evaluations; ``all``: those of enabled
        embedding tables."""
        embeddings = config.embeddings
        enabled = [
            name
            for name, evaluation in embeddings.evaluations.items()
            if evaluation.embeddings not in embeddings.tables
            or embeddings.tables[evaluation.embeddings].enabled
        ]
        return {
            "evaluation": Choices.of(
                list(embeddings.evaluations), "embeddings.evaluations (embeddings.yml)", everything=enabled
            )
        }

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
                context.tables.append(RESULTS_TABLE, frame, spec=RESULTS_SPEC)


def evaluate(context: JobContext, name: str) -> list[tuple]:
    """Search the labelled queries of one evaluation in each mode; one result row per mode."""
    settings = context.config.embeddings.evaluations[name]
    located = {
        kind: context.layout.files_location(getattr(settings, kind)) for kind in ("queries", "relevance")
    }
    for kind, location in located.items():
        if not files.exists(context.spark, location):
            raise VectorSearchError(
                f"embeddings.evaluations.{name}.{kind}: nothing at {location} (for the demo, run demo_data; "
                "for docstrings, sample_data with dataset=docstrings)"
            )
    searcher = Searcher(context.config, settings.embeddings, context.spark)
    labelled = read_labelled_set(
        context.spark, located["queries"], located["relevance"], context.tables.read(searcher.table)
    )
    evaluations = measure_labelled_set(
        name, searcher, labelled, settings.k, settings.max_queries, context.log
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    version = context.tables.version(searcher.table)
    return [_result_row(name, searcher.table, version, e, context, now) for e in evaluations]


def _result_row(name: str, table: str, version: int, e: ModeEvaluation, context: JobContext, now) -> tuple:
    label = f"{name}.{e.mode}" + (".exact" if e.method == "exact" else "")
    context.metrics.update(
        {
            **{f"{label}.recall@{cutoff}": e.recall[cutoff] for cutoff in CUTOFFS},
            f"{label}.mrr@10": e.mrr,
        }
    )
    return (
        name, table, e.table_version if e.table_version is not None else version, e.method, e.at_k.k,
        e.queries, e.at_k.recall_at_k, e.at_k.precision_at_k, e.at_k.mrr, context.run_id, now, e.mode,
        *[e.recall[cutoff] for cutoff in CUTOFFS], e.mrr,
    )  # fmt: skip

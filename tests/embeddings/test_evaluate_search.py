"""evaluate_search for real: each search mode on a small labelled set, into gold.search_evaluations."""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.config.embeddings import SearchEvaluationSettings
from lakehouse.io.delta_store import DeltaStore
from lakehouse.io.table_spec import TableSpec
from lakehouse.jobs.evaluate_search import RESULTS_SCHEMA, RESULTS_TABLE
from lakehouse.runs.runner import run_job
from lakehouse.search.evaluation import evaluation_runs
from lakehouse.storage.layout import StorageLayout
from tests.indexed_tickets import copy_indexed_tickets

QUERIES = [(1, "lamp"), (2, "password reset"), (3, "shoes too small"), (4, "anything")]
RELEVANCE = [(1, 2), (2, 4), (3, 5), (4, 99)]  # ticket 99 is not in the table: query 4 is not measured


def test_each_mode_is_measured_and_an_older_results_table_gains_the_mode_columns(
    lakehouse_session, embedding_config, indexed_small_tickets
):
    spark, config = lakehouse_session, embedding_config
    layout = StorageLayout.from_config(config)
    store = DeltaStore(spark, layout)
    copy_indexed_tickets(indexed_small_tickets, config)  # ticket_rows(), embedded and indexed
    spark.createDataFrame(QUERIES, "query_id bigint, query string").write.parquet(
        layout.files_location("labels", "queries")
    )
    spark.createDataFrame(RELEVANCE, "query_id bigint, document_id bigint").write.parquet(
        layout.files_location("labels", "relevance")
    )
    evaluation = SearchEvaluationSettings(
        embeddings="tickets", queries="labels/queries", relevance="labels/relevance", k=3
    )
    embeddings = config.embeddings.model_copy(update={"evaluations": {"lookups": evaluation}})
    config = config.model_copy(update={"embeddings": embeddings})
    # a results table written before the modes: its rows stay, with nulls in the new columns
    old = RESULTS_SCHEMA.fields[: RESULTS_SCHEMA.fieldNames().index("mode")]
    old_row = (
        "lookups",
        "gold.tickets_embeddings",
        1,
        "index",
        3,
        3,
        1.0,
        0.4,
        1.0,
        "old",
        dt.datetime(2026, 1, 1),
    )
    frame = spark.createDataFrame([old_row], RESULTS_SCHEMA.__class__(old))
    store.append(RESULTS_TABLE, frame, spec=TableSpec(RESULTS_TABLE, frame.schema))

    run = run_job("evaluate_search", config, spark=spark)

    rows = store.read(RESULTS_TABLE).orderBy("evaluated_at").collect()
    assert rows[0].run_id == "old" and rows[0].mode is None and rows[0].recall_at_5 is None
    new = [r for r in rows if r.run_id == run.run_id]
    assert [(r.mode, r.method) for r in new] == [
        (mode, "exact" if exact else "index") for mode, exact in evaluation_runs(True)
    ]
    for r in new:
        assert r.queries == 3 and r.k == 3 and r.evaluation == "lookups"
        assert 0 <= r.recall_at_1 <= r.recall_at_5 <= r.recall_at_10 == 1.0  # five tickets in all
        assert r.recall_at_k == pytest.approx(r.recall_at_5) and 0 < r.mrr_at_10 <= 1
    keyword = next(r for r in new if r.mode == "keyword")
    assert keyword.recall_at_1 == 1.0 and keyword.mrr_at_10 == 1.0  # each query names its ticket's words
    assert run.metrics["lookups.hybrid.recall@1"] == next(r for r in new if r.mode == "hybrid").recall_at_1

    # max_queries: two of the three labelled queries are measured (the unlabelled one never counts)
    capped = evaluation.model_copy(update={"max_queries": 2})
    evaluations = {"lookups": capped}
    config = config.model_copy(
        update={"embeddings": config.embeddings.model_copy(update={"evaluations": evaluations})}
    )
    run = run_job("evaluate_search", config, spark=spark)
    capped_rows = [r for r in store.read(RESULTS_TABLE).collect() if r.run_id == run.run_id]
    assert len(capped_rows) == 4 and {r.queries for r in capped_rows} == {2}

"""The daily cycle end to end: a small week through the demo pipeline, then the next landed day
through the shipped ``daily`` pipeline, then the same day again.

Real Spark, Delta, PostgreSQL (the demo's own local server), SynapseML and the embedding model, in
the test run's one SparkSession.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse.config.platform import JobSettings
from lakehouse.demo.generator import build_customer_snapshot, build_customers
from lakehouse.demo.service import local_server
from lakehouse.io.delta_store import DeltaStore
from lakehouse.jobs.demo_data import DemoDataParams
from lakehouse.pipelines.landed import LandedDataMissingError
from lakehouse.pipelines.runner import RunOptions, run_pipeline
from lakehouse.runs.runner import run_job
from lakehouse.search.api import Searcher
from lakehouse.storage.layout import StorageLayout
from tests.postgres_server import free_loopback_port

pytestmark = pytest.mark.slow

# the smallest scale whose eighth day still has a valid new ticket and a customer whose change shows
# in silver (at 0.01 a day's single ticket is the malformed one; at 0.02 the day's one change draws
# the same values again): 60 customers, 10 products, about 30 orders a day
SCALE = 0.03
WEEK_END = dt.date(2026, 1, 7)  # the demo's history ends on 31 December, its week is 1 .. 7 January
NEXT_DAY = dt.date(2026, 1, 8)  # the eighth day, landed afterwards
AS_OF = NEXT_DAY + dt.timedelta(days=1)  # the features that include the eighth day's data
# the demo pipeline less what the daily cycle does not need (the smoke test, reports, evaluations;
# similar_documents first runs in daily)
DEMO_TASKS = (
    "demo_data",
    "bronze_ingest",
    "silver_refine",
    "gold_features",
    "train_model",
    "batch_score",
    "embed_documents",
    "build_index",
)
FILE_SOURCES = ("orders", "order_lines", "tickets")


def demo_config(config, folder: Path):
    """The shipped configuration at the small scale, with the demo's PostgreSQL on a free port and a
    search of one trial."""
    shop = config.connections["shop_db"]
    url = f"jdbc:postgresql://127.0.0.1:{free_loopback_port()}/shop"
    jobs = dict(config.jobs)
    demo_data = jobs.get("demo_data", JobSettings())
    jobs["demo_data"] = demo_data.model_copy(update={"params": {**demo_data.params, "scale": SCALE}})
    database = config.local_database.model_copy(update={"data_dir": str(folder / "postgres")})
    churn = config.models.models["churn"]
    one_trial = churn.model_copy(update={"search": churn.search.model_copy(update={"trials": 1})})
    models = config.models.model_copy(update={"models": {**config.models.models, "churn": one_trial}})
    return config.model_copy(
        update={
            "connections": {**config.connections, "shop_db": shop.model_copy(update={"url": url})},
            "jobs": jobs,
            "local_database": database,
            "models": models,  # one trial of the search: the cycle needs a model, not a good one
        }
    )


def state(store: DeltaStore, layout: StorageLayout) -> dict[str, tuple[int, int]]:
    """Every data table (ops excluded) with its Delta version and row count."""
    tables = {}
    for layer in ("bronze", "silver", "gold", "quarantine"):
        folder = Path(layout.layer_location(layer))
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            name = f"{layer}.{path.name}"
            if store.exists(name):
                tables[name] = (store.version(name), store.read(name).count())
    return tables


def changed_keys(spark, store: DeltaStore, table: str, since: int, key: str) -> set:
    """Keys of the rows a table's commits after version ``since`` inserted or updated."""
    changes = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", since + 1)
        .load(store.layout.table(table).location)
        .where(F.col("_change_type").isin("insert", "update_postimage"))
    )
    return {row[0] for row in changes.select(key).distinct().collect()}


def test_the_daily_pipeline_turns_a_new_day_into_next_day_features_scores_and_search(
    lakehouse_session, lakehouse_config, postgres_binaries, tmp_path
):
    spark = lakehouse_session
    config = demo_config(lakehouse_config, tmp_path)
    layout = StorageLayout.from_config(config)
    store = DeltaStore(spark, layout)
    lines: list[str] = []
    try:
        week = run_pipeline(
            config, "demo", RunOptions(date=WEEK_END, only=DEMO_TASKS), spark, lines.append, summarize=False
        )
        assert week.status == "succeeded", week.error
        # the demo's own job lands the eighth day (files, and the day's changes in the database)
        run_job("demo_data", config, {"days": "8", "day": "7"}, spark)
        before = state(store, layout)
        bronze = {  # each bronze table as it was before the day
            name: store.read(f"bronze.{name}", version=before[f"bronze.{name}"][0])
            for name in (*FILE_SOURCES, "customers")
        }

        lines.clear()
        daily = run_pipeline(config, "daily", RunOptions(date=NEXT_DAY), spark, lines.append, summarize=False)
        assert daily.status == "succeeded", daily.error
        assert "data landed for 2026-01-08: landing/orders/2026-01-08 (1 file)" in lines[1], lines[:2]
        after = state(store, layout)

        # bronze gains the new day's files only, each row once
        for source in FILE_SOURCES:
            new = store.read(f"bronze.{source}").exceptAll(bronze[source])
            files = {row[0] for row in new.select("_source_file").distinct().collect()}
            assert files and all(f"/landing/{source}/2026-01-08/" in file for file in files), files
            assert after[f"bronze.{source}"][1] == before[f"bronze.{source}"][1] + new.count()
        # and the database rows the eighth day added or changed
        params = DemoDataParams(seed=42, scale=SCALE, days=8)
        scale, eighth = params.demo_scale(), params.history_days + 7  # the generator counts from the history
        day_rows = build_customers(spark, scale, eighth)
        new_customers = store.read("bronze.customers").exceptAll(bronze["customers"])
        assert new_customers.count() == day_rows.count()
        assert {row[0] for row in new_customers.select("customer_id").collect()} == {
            row[0] for row in day_rows.select("customer_id").collect()
        }

        # silver: only the new and changed rows are written
        for table, source, key in (
            ("silver.orders", "orders", "order_id"),
            ("silver.tickets", "tickets", "ticket_id"),
            ("silver.customers", "customers", "customer_id"),
        ):
            touched = changed_keys(spark, store, table, before[table][0], key)
            arrived = store.read(f"bronze.{source}").exceptAll(bronze[source])
            arrived_keys = {row[0] for row in arrived.select(key).collect() if row[0] is not None}
            assert touched and touched <= arrived_keys, (table, touched - arrived_keys)
        # a customer who changed keeps their history: the old version closed, the new one current
        existing = scale.customers_on(eighth - 1)
        changed = [row[0] for row in day_rows.where(F.col("customer_id") <= existing).collect()]
        assert changed, "the eighth day changes no customer: pick another scale"
        history = store.read("silver.customers").where(F.col("customer_id").isin(changed))
        # a change may draw the same values again (a new city equal to the old one): only the
        # customers whose row differs get a version from the eighth day
        differs = (
            build_customer_snapshot(spark, scale, eighth)
            .drop("updated_at")
            .exceptAll(build_customer_snapshot(spark, scale, eighth - 1).drop("updated_at"))
        )
        expected = {row[0] for row in differs.where(F.col("customer_id") <= existing).collect()}
        renewed = {row[0] for row in history.where(F.to_date("valid_from") == NEXT_DAY).collect()}
        assert renewed and renewed == expected, (renewed, expected)
        for customer in renewed:
            versions = sorted(
                history.where(F.col("customer_id") == customer).collect(), key=lambda row: row["valid_from"]
            )
            assert len(versions) >= 2 and [row["is_current"] for row in versions][-2:] == [False, True]
            assert versions[-2]["valid_to"] == versions[-1]["valid_from"]
            assert versions[-1]["valid_from"].date() == NEXT_DAY
        unchanged = set(changed) - renewed
        current = history.where(F.col("customer_id").isin(list(unchanged))).where("is_current").collect()
        assert len(current) == len(unchanged) and all(row["valid_from"].date() < NEXT_DAY for row in current)

        # features as of the next day exist, one row per customer signed up before it, and are scored
        features = store.read("gold.customer_activity")
        assert features.agg(F.max("as_of_date")).first()[0] == AS_OF
        customers = (
            store.read("silver.customers")
            .where("is_current")
            .where(F.col("signup_date") < F.lit(AS_OF))
            .count()
        )
        assert features.where(F.col("as_of_date") == AS_OF).count() == customers
        predictions = store.read("gold.churn_predictions").where(F.col("as_of_date") == AS_OF)
        assert predictions.count() == customers
        assert predictions.select("customer_id").distinct().count() == customers
        assert dict(daily.task(("batch_score", "2026-01-08")).rows_written) == {
            "gold.churn_predictions": customers
        }

        # the day's new tickets are embedded and found by the refreshed index
        new_tickets = store.read("silver.tickets").where(F.to_date("created_at") == F.lit(NEXT_DAY))
        ticket_ids = {row[0] for row in new_tickets.select("ticket_id").collect()}
        assert ticket_ids
        chunks = (
            store.read("gold.tickets_embeddings")
            .where(F.col("document_id").isin(list(ticket_ids)))
            .select("document_id", "chunk_text")
            .collect()
        )
        assert {row["document_id"] for row in chunks} == ticket_ids
        searcher = Searcher(config, "tickets", spark)
        results = searcher.search([row["chunk_text"] for row in chunks], k=5)
        for row, result in zip(chunks, results, strict=True):
            assert result.method == "index" and not result.stale
            assert result.index_version == store.version("gold.tickets_embeddings")
            assert row["document_id"] in [hit.document_id for hit in result.hits]

        # the same day again: every task succeeds and no data table moves
        again = run_pipeline(config, "daily", RunOptions(date=NEXT_DAY), spark, lines.append, summarize=False)
        assert again.status == "succeeded", again.error
        assert {t: n for t, n in again.rows_written().items() if n and not t.startswith("ops.")} == {}
        assert state(store, layout) == after

        # a day that has not landed is refused before any job runs, naming the newest landed day
        with pytest.raises(LandedDataMissingError, match="run with --date 2026-01-08"):
            run_pipeline(config, "daily", RunOptions(date=AS_OF), spark, lines.append, summarize=False)
        assert state(store, layout) == after
    finally:
        local_server(config).stop()

"""Faults around silver_refine, embed_documents and build_index, each compared with a clean run:
two runs at once, a lost progress record with a full refresh, a damaged index."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from lakehouse.errors import LakehouseError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.runs.runner import JobFailedError, run_job
from lakehouse.search.api import Searcher
from lakehouse.search.storage import index_location
from lakehouse.storage.layout import StorageLayout
from tests.embeddings.conftest import embedding_settings, generated_tickets, write_tickets
from tests.embeddings.test_search import QUERIES
from tests.faults.conftest import Outcome
from tests.silver.test_refine import ORDERS_BRONZE, T3, configured, day_one, land


def outcome_of(error: BaseException | None) -> tuple[str, str]:
    if error is None:
        return "ok", ""
    cause = error.__cause__ if isinstance(error, JobFailedError) and error.__cause__ else error
    return type(cause).__name__, str(cause).splitlines()[0]


def at_once(job: str, config, spark) -> list[tuple[str, str]]:
    """Two runs of a job started together in one session (their own run ids, locks and records)."""
    errors: list[BaseException | None] = []

    def run() -> None:
        try:
            run_job(job, config, spark=spark)
            errors.append(None)
        except LakehouseError as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [outcome_of(error) for error in errors]


def counted(frame, keys: list[str]) -> tuple[int, int]:
    return frame.count(), frame.select(*keys).distinct().count()


def worst(outcomes: list[tuple[str, str]]) -> tuple[str, str]:
    failed = [o for o in outcomes if o[0] != "ok"]
    return failed[0] if failed else ("ok", "")


def test_two_silver_refines_at_once(spark, lakehouse_config, tmp_path, record_outcome):
    config = configured(lakehouse_config, tmp_path)
    day_one(spark, config)
    store = DeltaStore(spark, StorageLayout.from_config(config))

    outcomes = at_once("silver_refine", config, spark)

    rows, keys = counted(store.read("silver.orders"), ["order_id"])
    current, current_keys = counted(store.read("silver.customers").where("is_current"), ["customer_id"])
    quarantined, ids = counted(store.read("quarantine.orders"), ["_quarantine_id"])
    duplicates = (rows - keys) + (current - current_keys) + (quarantined - ids)
    losses = len({10, 11, 15} - {r["order_id"] for r in store.read("silver.orders").collect()})
    result = record_outcome(Outcome("two silver_refine at once", duplicates, losses, *worst(outcomes)))
    assert (result.duplicates, result.losses, quarantined) == (0, 0, 4)
    assert {o[0] for o in outcomes} <= {"ok", "TableBusyError"}, outcomes
    if result.outcome == "TableBusyError":
        assert "silver_refine" in result.message and "pid" in result.message


def test_lost_progress_and_a_full_refresh_quarantine_nothing_twice(
    spark, lakehouse_config, tmp_path, record_outcome
):
    config = configured(lakehouse_config, tmp_path)
    day_one(spark, config)
    run_job("silver_refine", config, spark=spark)
    land(spark, config, "bronze.orders", [(20, 2, "paid", 9.0, T3, None, T3)], ORDERS_BRONZE)
    layout = StorageLayout.from_config(config)
    shutil.rmtree(layout.table("ops.table_progress").location)
    errors = []
    for params in (None, {"full_refresh": "true"}):
        try:
            run_job("silver_refine", config, spark=spark, params=params)
        except LakehouseError as error:
            errors.append(error)

    store = DeltaStore(spark, layout)
    quarantined, ids = counted(store.read("quarantine.orders"), ["_quarantine_id"])
    rows, keys = counted(store.read("silver.orders"), ["order_id"])
    losses = len({10, 11, 15, 20} - {r["order_id"] for r in store.read("silver.orders").collect()})
    outcome = outcome_of(errors[0] if errors else None)
    result = record_outcome(
        Outcome("progress lost, then full_refresh", (quarantined - ids) + (rows - keys), losses, *outcome)
    )
    assert (result.duplicates, result.losses, result.outcome, quarantined) == (0, 0, "ok", 4)


def test_two_embeds_then_two_index_builds_at_once(lakehouse_session, lakehouse_config, record_outcome):
    spark = lakehouse_session
    config = lakehouse_config.model_copy(update={"embeddings": embedding_settings()})
    tickets = generated_tickets()
    write_tickets(spark, config, tickets)
    store = DeltaStore(spark, StorageLayout.from_config(config))

    embeds = at_once("embed_documents", config, spark)
    embedded = store.read("gold.tickets_embeddings")
    rows, keys = counted(embedded, ["document_id", "chunk_id"])
    documents = {r["document_id"] for r in embedded.select("document_id").distinct().collect()}
    result = record_outcome(
        Outcome("two embed_documents at once", rows - keys, len(tickets) - len(documents), *worst(embeds))
    )
    assert (result.duplicates, result.losses) == (0, 0)
    assert {o[0] for o in embeds} <= {"ok", "TableBusyError"}, embeds

    builds = at_once("build_index", config, spark)
    found = Searcher(config, "tickets", spark).search(QUERIES[0], k=5)[0]
    result = record_outcome(Outcome("two build_index at once", 0, 0 if found.hits else 1, *worst(builds)))
    assert found.method == "index" and len(found.hits) == 5
    assert {o[0] for o in builds} <= {"ok", "TableBusyError"}, builds

    # a damaged index: searched exactly with a note, rebuilt by the next build
    location = Path(index_location(StorageLayout.from_config(config), "gold.tickets_embeddings"))
    folder = location / (location / "CURRENT").read_text().strip()
    data = (folder / "index.faiss").read_bytes()
    (folder / "index.faiss").write_bytes(data[: len(data) // 3])
    damaged = Searcher(config, "tickets", spark).search(QUERIES[0], k=5)[0]
    rebuilt = outcome_of(None)
    try:
        run_job("build_index", config, spark=spark)
    except LakehouseError as error:
        rebuilt = outcome_of(error)
    healed = Searcher(config, "tickets", spark).search(QUERIES[0], k=5)[0]
    result = record_outcome(
        Outcome(
            "truncated index.faiss",
            0,
            0 if damaged.hits else 1,
            rebuilt[0],
            damaged.notes[0] if damaged.notes else "",
        )
    )
    assert damaged.method == "exact" and "cannot be read" in result.message
    assert rebuilt[0] == "ok" and healed.method == "index"

    # a deleted index folder: the same
    shutil.rmtree(location)
    missing = Searcher(config, "tickets", spark).search(QUERIES[0], k=5)[0]
    run_job("build_index", config, spark=spark)
    healed = Searcher(config, "tickets", spark).search(QUERIES[0], k=5)[0]
    result = record_outcome(
        Outcome(
            "index folder deleted",
            0,
            0 if missing.hits else 1,
            "ok",
            missing.notes[0] if missing.notes else "",
        )
    )
    assert missing.method == "exact" and missing.hits and healed.method == "index"

    # embed_documents run again after its commit (as if killed before it recorded its run): nothing twice
    outcome = outcome_of(None)
    try:
        run_job("embed_documents", config, spark=spark)
    except LakehouseError as error:
        outcome = outcome_of(error)
    rows, keys = counted(store.read("gold.tickets_embeddings"), ["document_id", "chunk_id"])
    documents = store.read("gold.tickets_embeddings").select("document_id").distinct().count()
    result = record_outcome(
        Outcome("embed_documents rerun after its commit", rows - keys, len(tickets) - documents, *outcome)
    )
    assert (result.duplicates, result.losses, result.outcome) == (0, 0, "ok")

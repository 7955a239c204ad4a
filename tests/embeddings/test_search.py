"""Vector search for real: the FAISS index against exact Spark search, filters, staleness, refresh."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lakehouse.errors import VectorSearchError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.runs.runner import run_job
from lakehouse.search.api import Searcher
from lakehouse.search.storage import index_location
from lakehouse.storage.layout import StorageLayout
from tests.indexed_tickets import copy_indexed_tickets

from .conftest import generated_tickets, write_tickets

QUERIES = [
    "my battery is empty after a few hours",
    "the parcel was crushed and the item broken",
    "still waiting for the money of my return",
    "I can not sign in to my account",
    "the shoes are too small",
    "my package is late and has not arrived",
    "you sent me a different product",
    "screws and cable missing from the box",
]


def recall(found, truth) -> float:
    expected = [h.document_id for h in truth.hits]
    return len({h.document_id for h in found.hits} & set(expected)) / len(expected)


@pytest.fixture
def indexed(lakehouse_session, embedding_config, indexed_tickets):
    """The generated tickets, embedded and indexed (a copy of the session's, this test's own)."""
    copy_indexed_tickets(indexed_tickets, embedding_config)
    return lakehouse_session, embedding_config


def test_index_agrees_with_exact_search_and_honours_filters(indexed):
    spark, config = indexed
    searcher = Searcher(config, "tickets", spark)
    approximate = searcher.search(QUERIES, k=10, mode="vector")
    exact = searcher.search(QUERIES, k=10, exact=True)
    assert [r.method for r in approximate] == ["index"] * 8 and [r.method for r in exact] == ["exact"] * 8
    assert not any(r.stale for r in approximate)
    recalls = [recall(a, e) for a, e in zip(approximate, exact, strict=True)]
    assert sum(recalls) / len(recalls) >= 0.95
    for result in exact:
        assert [h.rank for h in result.hits] == list(range(1, 11))
        assert all(a.score >= b.score for a, b in zip(result.hits, result.hits[1:], strict=False))
        assert len({h.document_id for h in result.hits}) == 10
    # the topic a query describes comes first: tickets 1, 9, 17... are battery tickets
    battery = {i + 1 for i in range(0, 240, 8)}
    assert approximate[0].hits[0].document_id in battery

    filters = {"channel": "email", "created_at": {">=": "2026-01-20", "<": "2026-02-10"}}
    approximate = searcher.search(QUERIES, k=10, filters=filters, mode="vector")
    exact = searcher.search(QUERIES, k=10, filters=filters, exact=True)
    for result in approximate + exact:
        assert result.hits and len(result.hits) <= 10
        for hit in result.hits:
            assert hit.metadata["channel"] == "email"
            assert dt.datetime(2026, 1, 20) <= hit.metadata["created_at"] < dt.datetime(2026, 2, 10)
    recalls = [recall(a, e) for a, e in zip(approximate, exact, strict=True)]
    assert sum(recalls) / len(recalls) >= 0.95
    text_filters = searcher.search(QUERIES[:1], k=3, filters=["channel=chat,phone", "product_id>=5"])[0]
    assert all(h.metadata["channel"] != "email" and h.metadata["product_id"] >= 5 for h in text_filters.hits)

    with pytest.raises(
        VectorSearchError, match=r"filter on \['colour'\]: not columns of gold.tickets_embeddings"
    ):
        searcher.search("x", filters={"colour": "red"})

    # keyword and hybrid search and grounding context, with no session: the index's files answer
    searcher = Searcher(config, "tickets")
    tickets = {t[0]: f"{t[6]}\n\n{t[7]}" for t in generated_tickets()}
    # an order number as support staff type it: only the words find it
    number, ticket = next((str(t[2]), t[0]) for t in generated_tickets() if str(t[2]) in tickets[t[0]])
    keyword = searcher.search(f"order {number}", k=5, mode="keyword")[0]
    assert keyword.mode == "keyword" and keyword.hits[0].document_id == ticket
    assert number in keyword.hits[0].text and keyword.hits[0].keyword_rank == 1
    hybrid = searcher.search(f"order {number}", k=5, mode="hybrid")[0]
    assert hybrid.hits[0].document_id == ticket and hybrid.hits[0].keyword_rank == 1
    assert all(h.vector_rank or h.keyword_rank for h in hybrid.hits)
    scores = [h.score for h in hybrid.hits]
    assert scores == sorted(scores, reverse=True)
    filtered = searcher.search(QUERIES[0], k=10, mode="hybrid", filters=["channel=chat"])[0]
    assert filtered.hits and all(h.metadata["channel"] == "chat" for h in filtered.hits)

    context = searcher.context(QUERIES[0], max_tokens=80, k=4)
    assert 0 < context.tokens <= 80 and context.index_version == context.table_version
    tokenizer = searcher.model.tokenizer
    for passage in context.passages:
        assert passage.tokens == len(tokenizer(passage.text, add_special_tokens=False)["input_ids"])
        assert passage.chunk_ids and passage.text.strip()
        whole = tickets[passage.document_id]
        assert passage.text in whole or passage.truncated  # the window's text is the ticket's own
    assert len({p.document_id for p in context.passages}) == len(context.passages)  # one window each
    assert searcher._spark is None


def test_a_stale_index_says_so_and_a_refresh_catches_up(indexed):
    spark, config = indexed
    tickets = generated_tickets()
    kept = [t for t in tickets if t[0] != 2]  # ticket 2 deleted
    new = (999, 1, 1, 1, dt.datetime(2026, 3, 1), "chat", "Wrong colour", "The kettle I got is bright pink.")
    store = DeltaStore(spark, StorageLayout.from_config(config))
    chunks_of_2 = store.read("gold.tickets_embeddings").where("document_id = 2").count()
    write_tickets(spark, config, [*kept, new])
    run_job("embed_documents", config, spark=spark)
    table_version = store.version("gold.tickets_embeddings")

    stale = Searcher(config, "tickets", spark).search("pink kettle", k=3)[0]
    assert stale.stale and stale.index_version < stale.table_version == table_version
    assert any("stale index" in note and "build_index" in note for note in stale.notes)
    assert all(h.document_id != 999 for h in stale.hits)

    served = Searcher(config, "tickets")  # as the search service holds it: loaded before the build
    assert served.status().stale
    run = run_job("build_index", config, spark=spark)
    assert run.succeeded
    assert served.reload() and not served.reload()  # the new CURRENT swapped in once
    status = served.status()
    assert status.index_version == status.table_version == table_version and not status.stale
    assert served.search("pink kettle", k=3, mode="keyword")[0].hits[0].document_id == 999
    fresh = Searcher(config, "tickets", spark)
    assert fresh.index.manifest.table_version == table_version and fresh.index.manifest.refreshes == 1
    assert fresh.index.manifest.deleted == chunks_of_2 > 0
    assert fresh.index.manifest.live == store.read("gold.tickets_embeddings").count()
    result = fresh.search("pink kettle", k=3)[0]
    assert not result.stale and result.hits[0].document_id == 999
    damaged = fresh.search(QUERIES[1], k=240)[0]
    assert 2 not in {h.document_id for h in damaged.hits}


def test_a_truncated_or_missing_index_is_searched_exactly_and_rebuilt(indexed):
    spark, config = indexed
    layout = StorageLayout.from_config(config)
    location = Path(index_location(layout, "gold.tickets_embeddings"))
    good = Searcher(config, "tickets", spark).search(QUERIES[0], k=5, mode="vector")[0]
    assert good.method == "index"

    for damage in ("truncate index.faiss", "delete rows.parquet"):
        folder = location / (location / "CURRENT").read_text().strip()
        if damage.startswith("truncate"):
            data = (folder / "index.faiss").read_bytes()
            (folder / "index.faiss").write_bytes(data[: len(data) // 2])
        else:
            (folder / "rows.parquet").unlink()

        result = Searcher(config, "tickets", spark).search(QUERIES[0], k=5)[0]
        assert result.method == "exact", damage
        assert [h.document_id for h in result.hits] == [h.document_id for h in good.hits]
        [note] = result.notes
        assert "the index of gold.tickets_embeddings" in note and "cannot be read" in note
        assert "build_index --param table=tickets --param full=true" in note

        rebuilt = run_job("build_index", config, spark=spark)  # rebuilds from the Delta table
        assert rebuilt.succeeded, damage
        healed = Searcher(config, "tickets", spark).search(QUERIES[0], k=5)[0]
        assert healed.method == "index" and healed.notes == []

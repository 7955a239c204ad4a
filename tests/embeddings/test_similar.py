"""similar_documents for real: the join within each product against numpy's exact answer, exactly
and through HNSW graphs."""

from __future__ import annotations

import numpy as np

from lakehouse.io.delta_store import DeltaStore
from lakehouse.runs.runner import run_job
from lakehouse.search.similar import similar_documents
from lakehouse.storage.layout import StorageLayout

from .conftest import generated_tickets, write_tickets


def test_each_ticket_gets_its_most_similar_earlier_tickets_of_the_same_product(
    lakehouse_session, embedding_config
):
    spark, config = lakehouse_session, embedding_config
    write_tickets(spark, config, generated_tickets(120))
    run_job("embed_documents", config, spark=spark)
    run = run_job("similar_documents", config, spark=spark)
    store = DeltaStore(spark, StorageLayout.from_config(config))
    matches = store.read("gold.similar_tickets").collect()
    assert run.rows_written["gold.similar_tickets"] == len(matches) > 0

    chunks = store.read("gold.tickets_embeddings").collect()
    time = {c.document_id: c.created_at for c in chunks}
    product = {c.document_id: c.product_id for c in chunks}
    by_document: dict[int, list] = {}
    for c in chunks:
        by_document.setdefault(c.document_id, []).append(np.asarray(c.vector))

    def similarity(a: int, b: int) -> float:  # best chunk pair
        return max(float(x @ y) for x in by_document[a] for y in by_document[b])

    found: dict[int, list] = {}
    for m in matches:
        found.setdefault(m.document_id, []).append(m)
    for document in by_document:
        earlier = [d for d in by_document if time[d] < time[document] and product[d] == product[document]]
        expected = sorted(earlier, key=lambda d: (-similarity(document, d), d))[:3]
        got = sorted(found.get(document, []), key=lambda m: m.rank)
        assert [m.similar_document_id for m in got] == expected, document
        for m in got:
            assert abs(m.score - similarity(document, m.similar_document_id)) < 1e-4

    # through HNSW graphs (every product's group over exact_below): the same matches on groups this small
    settings = config.embeddings.similar["similar_tickets"].model_copy(update={"exact_below": 1})
    table = store.read("gold.tickets_embeddings")
    graph = similar_documents(table, table, settings, config.embeddings.index).collect()
    assert sorted((m.document_id, m.rank, m.similar_document_id) for m in graph) == sorted(
        (m.document_id, m.rank, m.similar_document_id) for m in matches
    )

    # a rerun matches nothing
    rerun = run_job("similar_documents", config, spark=spark)
    assert rerun.rows_written.get("gold.similar_tickets", 0) == 0

"""embed_documents for real: sentence-transformers in Spark's Python workers, Delta MERGE."""

from __future__ import annotations

import numpy as np
import pytest

from lakehouse.config.embeddings import EmbeddingModelSettings
from lakehouse.embeddings.encode import embed_texts
from lakehouse.embeddings.model import model_path
from lakehouse.io.delta_store import DeltaStore
from lakehouse.runs.runner import JobFailedError, run_job
from lakehouse.storage.layout import StorageLayout
from tests.indexed_tickets import copy_indexed_tickets

from .conftest import TICKETS, embedding_settings, ticket_rows, write_tickets

TABLE = "gold.tickets_embeddings"


@pytest.fixture(scope="module")
def reference():
    """sentence-transformers' own model, loaded once for the module's comparisons."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_path(EmbeddingModelSettings())), device="cpu")


def test_a_sentence_embeds_as_sentence_transformers_encodes_it(spark, reference):
    sentences = ["My package arrived damaged, the box was completely crushed.", "Cannot log in"]
    frame = spark.createDataFrame(list(enumerate(sentences)), "id int, chunk_text string")
    rows = sorted(embed_texts(frame, EmbeddingModelSettings()).collect())
    expected = reference.encode(sentences, normalize_embeddings=True)
    for row, vector in zip(rows, expected, strict=True):
        ours = np.asarray(row.vector, dtype=np.float64)
        assert ours.shape == (384,)
        assert abs(np.linalg.norm(ours) - 1) < 1e-5
        assert ours @ vector / np.linalg.norm(vector) >= 0.999


def snapshot(spark, config):
    rows = DeltaStore(spark, StorageLayout.from_config(config)).read(TABLE).collect()
    return {(r.document_id, r.chunk_id): r for r in rows}


def test_embed_documents_is_incremental(lakehouse_session, embedding_config, indexed_small_tickets):
    spark, config = lakehouse_session, embedding_config
    store = DeltaStore(spark, StorageLayout.from_config(config))
    # ticket_rows() through a first embed_documents (and build_index): the session's, copied
    copy_indexed_tickets(indexed_small_tickets, config)
    first = snapshot(spark, config)
    chunks_of = {doc: sorted(c for d, c in first if d == doc) for doc in range(1, 6)}
    assert len(chunks_of[1]) >= 3 and all(chunks_of[d] == [0] for d in range(2, 6))
    row = first[(2, 0)]
    assert row.model == "all-MiniLM-L6-v2" and row.dimension == 384 and len(row.vector) == 384
    assert row.chunk_text == "Package arrived damaged\n\nThe box was crushed and the lamp inside is broken."
    assert row.channel == "chat" and row.product_id == 8
    assert abs(sum(v * v for v in row.vector) - 1) < 1e-4

    # a rerun embeds nothing and commits nothing
    version = store.version(TABLE)
    run_job("embed_documents", config, spark=spark)
    assert store.version(TABLE) == version and snapshot(spark, config) == first

    # edit ticket 3, shorten ticket 1 to its first sentence, delete ticket 5, add ticket 6,
    # and move ticket 2 to another channel (metadata only)
    edited = {3: "I returned my order a month ago and the refund never came."}
    tickets = [
        (tid, c, o, p, s, (edited.get(tid) or (body[:80] if tid == 1 else body)), "email" if tid == 2 else ch)
        for tid, c, o, p, s, body, ch in TICKETS
        if tid != 5
    ] + [(6, 15, 105, 9, "Wrong item received", "You sent me a different model.", "chat")]
    write_tickets(spark, config, ticket_rows(tickets))
    run = run_job("embed_documents", config, spark=spark)
    after = snapshot(spark, config)
    newest = max(r.embedded_at for r in first.values())
    reembedded = sorted(key for key, r in after.items() if r.embedded_at > newest)
    # only the chunks whose text changed or is new: ticket 1's shortened first chunk, 3 and 6
    assert reembedded == [(1, 0), (3, 0), (6, 0)]
    assert not any(doc == 5 for doc, _ in after)
    assert after[(2, 0)].channel == "email" and after[(2, 0)].vector == first[(2, 0)].vector
    assert after[(2, 0)].embedded_at == first[(2, 0)].embedded_at
    assert after[(4, 0)] == first[(4, 0)]
    assert run.rows_written[TABLE] == 4  # 1, 2 (metadata) and 3 updated, 6 inserted

    # another model name re-embeds every chunk
    renamed = embedding_settings(name="minilm-copy")
    config = config.model_copy(update={"embeddings": renamed})
    run_job("embed_documents", config, spark=spark)
    final = snapshot(spark, config)
    assert final.keys() == after.keys()
    assert {r.model for r in final.values()} == {"minilm-copy"}
    assert all(r.embedded_at > max(x.embedded_at for x in after.values()) for r in final.values())


def test_duplicate_document_ids_fail_naming_the_column(lakehouse_session, embedding_config):
    spark, config = lakehouse_session, embedding_config
    rows = ticket_rows()
    write_tickets(spark, config, [*rows, rows[0]])
    with pytest.raises(JobFailedError, match=r"silver\.tickets\.ticket_id is not unique \(e\.g\. \[1\]\)"):
        run_job("embed_documents", config, spark=spark)
    assert not DeltaStore(spark, StorageLayout.from_config(config)).exists(TABLE)


def titled_settings(**table):
    settings = embedding_settings()
    tickets = settings.tables["tickets"].model_copy(update={"text": ["body"], **table})
    return settings.model_copy(update={"tables": {"tickets": tickets}})


def test_a_title_is_embedded_with_each_chunk_and_a_new_title_re_embeds(
    lakehouse_session, embedding_config, reference
):
    spark, config = lakehouse_session, embedding_config
    # the table first exists without titles: adding one adds the column and re-embeds every chunk
    config = config.model_copy(update={"embeddings": titled_settings()})
    write_tickets(spark, config, ticket_rows())
    run_job("embed_documents", config, spark=spark)
    plain = snapshot(spark, config)
    config = config.model_copy(update={"embeddings": titled_settings(title="subject")})
    run_job("embed_documents", config, spark=spark)
    first = snapshot(spark, config)
    assert first.keys() == plain.keys()
    row = first[(2, 0)]
    assert row.title == "Package arrived damaged"
    assert row.chunk_text == "The box was crushed and the lamp inside is broken."
    expected = reference.encode(f"{row.title}\n\n{row.chunk_text}", normalize_embeddings=True)
    assert np.asarray(row.vector) @ expected >= 0.999
    assert all(r.embedded_at > max(p.embedded_at for p in plain.values()) for r in first.values())
    # every chunk of the long ticket carries its title and still fits the model (32 tokens here)
    long = [r for (d, _), r in sorted(first.items()) if d == 1]
    assert len(long) >= 3 and {r.title for r in long} == {"Battery drains fast"}
    tokenizer = reference.tokenizer
    assert all(len(tokenizer(f"{r.title}\n\n{r.chunk_text}")["input_ids"]) <= 32 for r in long)

    # a new subject re-embeds its ticket only, with the same chunk text
    tickets = [(t[0], *t[1:4], "Parcel crushed" if t[0] == 2 else t[4], *t[5:]) for t in TICKETS]
    write_tickets(spark, config, ticket_rows(tickets))
    run_job("embed_documents", config, spark=spark)
    after = snapshot(spark, config)
    changed = sorted(key for key, r in after.items() if r.embedded_at > row.embedded_at)
    assert changed == [(2, 0)]
    assert after[(2, 0)].title == "Parcel crushed" and after[(2, 0)].chunk_text == row.chunk_text
    assert after[(2, 0)].vector != row.vector and after[(3, 0)] == first[(3, 0)]


def test_a_missing_title_column_is_named(lakehouse_session, embedding_config):
    spark, config = lakehouse_session, embedding_config
    config = config.model_copy(update={"embeddings": titled_settings(title="headline")})
    write_tickets(spark, config, ticket_rows())
    named = r"embeddings\.tables\.tickets: silver\.tickets has no column\(s\) \['headline'\]"
    with pytest.raises(JobFailedError, match=named):
        run_job("embed_documents", config, spark=spark)

"""embeddings.yml mistakes fail at load naming the key; retrieval metrics by hand."""

from __future__ import annotations

import shutil

import pytest

from lakehouse.config import load_config
from lakehouse.errors import ConfigError
from lakehouse.search.evaluation import retrieval_metrics, sample_queries
from lakehouse.search.filters import Condition, parse
from tests.conftest import CONF_DIR

EMBEDDINGS = """
embeddings:
  tables:
    tickets:
      source: %s
      id: ticket_id
      text: [%s]
      metadata: [created_at]
  similar:
    similar_tickets: {embeddings: %s, time: %s}
"""


def error_of(
    tmp_path, source="silver.tickets", text="subject, body", similar="tickets", time="created_at"
) -> str:
    conf = tmp_path / "conf"
    shutil.rmtree(conf, ignore_errors=True)
    shutil.copytree(CONF_DIR, conf)
    (conf / "local" / "embeddings.yml").write_text(EMBEDDINGS % (source, text, similar, time))
    with pytest.raises(ConfigError) as error:
        load_config("local", conf_dir=conf)
    return str(error.value)


def test_the_shipped_embeddings_load():
    embeddings = load_config("local").embeddings
    assert embeddings.table("tickets") == "gold.tickets_embeddings"
    assert embeddings.similar["similar_tickets"].condition == "product_id"


def test_mistakes_are_named_with_their_key(tmp_path):
    message = error_of(tmp_path, source="silver.ticket")
    assert "embeddings.tables.tickets.source" in message and "silver.tickets" in message
    message = error_of(tmp_path, text="subject, bodyy")
    assert "embeddings.tables.tickets.text" in message and "'bodyy'" in message and "'body'" in message
    message = error_of(tmp_path, similar="ticket")
    assert "embeddings.similar.similar_tickets.embeddings" in message
    message = error_of(tmp_path, time="channel")
    assert "embeddings.similar.similar_tickets.time" in message and "not a metadata column" in message


def test_retrieval_metrics():
    ranked = {1: ["a", "x", "b"], 2: ["y", "z", "c"], 3: ["q"], 4: ["a"]}
    relevant = {1: {"a", "b", "e", "f"}, 2: {"c"}, 3: {"r"}, 4: set()}
    metrics = retrieval_metrics(ranked, relevant, k=3)
    assert metrics.queries == 3  # query 4 has no relevant document
    assert metrics.recall_at_k == pytest.approx((2 / 3 + 1 / 1 + 0) / 3)
    assert metrics.precision_at_k == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    assert metrics.mrr == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_a_query_sample_is_the_same_on_every_run_and_keeps_the_queries_order():
    queries = [(query_id, f"query {query_id}") for query_id in range(1, 201)]
    sample = sample_queries(queries, 50)
    assert len(sample) == 50 and sample == sample_queries(list(reversed(queries)), 50)[::-1]
    assert sample == sorted(sample) and set(sample) <= set(queries)
    # spread over the whole set, not its first ids; a grown set keeps most of the sample
    assert max(q for q, _ in sample) > 150 and min(q for q, _ in sample) < 50
    grown = sample_queries([*queries, *[(q, f"query {q}") for q in range(201, 221)]], 50)
    assert len(set(grown) & set(sample)) >= 40
    assert sample_queries(queries, None) == queries and sample_queries(queries[:10], 50) == queries[:10]


def test_filters_parse_from_text_and_mappings():
    assert parse(["channel=email", "product_id=7,8", "created_at>=2026-01-03"]) == [
        Condition("channel", "=", "email"),
        Condition("product_id", "in", ("7", "8")),
        Condition("created_at", ">=", "2026-01-03"),
    ]
    assert parse({"channel": "chat", "price": {"<": 50}, "brand": ["a", "b"]}) == [
        Condition("channel", "=", "chat"),
        Condition("price", "<", 50),
        Condition("brand", "in", ("a", "b")),
    ]
    with pytest.raises(Exception, match="expected column<op>value"):
        parse(["channel"])


def test_a_disabled_table_and_its_evaluations_run_only_when_named():
    from lakehouse.jobs.embed_documents import EmbedDocumentsJob
    from lakehouse.jobs.evaluate_search import EvaluateSearchJob, EvaluateSearchParams

    config = load_config("local", conf_dir=CONF_DIR, environ={"LAKEHOUSE_ROOT": "/tmp/unused"})
    assert not config.embeddings.tables["docstrings"].enabled
    assert config.embeddings.tables["docstrings"].title == "name"
    tables = EmbedDocumentsJob.choices(config, None)["table"]
    assert tables.select("all", "table") == ["tickets", "products"]
    assert tables.select("docstrings", "table") == ["docstrings"]
    evaluations = EvaluateSearchJob.choices(config, EvaluateSearchParams())["evaluation"]
    assert evaluations.select("all", "evaluation") == ["ticket_topics", "ticket_lookups"]
    assert evaluations.select("docstrings", "evaluation") == ["docstrings"]


def test_a_title_cannot_share_its_column_name_with_metadata():
    from pydantic import ValidationError

    from lakehouse.config.embeddings import EmbeddingTableSettings

    table = {"source": "silver.products", "id": "product_id", "text": ["description"], "title": "name"}
    assert EmbeddingTableSettings.model_validate({**table, "metadata": ["name"]}).title == "name"
    with pytest.raises(ValidationError, match="metadata cannot hold a column named 'title'"):
        EmbeddingTableSettings.model_validate({**table, "metadata": ["title"]})


def test_title_and_search_mistakes_are_named_with_their_key(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    mistakes = {
        "tables:\n    tickets:\n      source: silver.tickets\n      id: ticket_id\n      text: [body]\n"
        "      title: subjekt": ("embeddings.tables.tickets.title", "'subjekt'", "'subject'"),
        "search:\n    mode: semantic": ("embeddings.search.mode", "'vector', 'keyword' or 'hybrid'"),
        "search:\n    fusion: {vector_weight: 0, keyword_weight: 0}": (
            "embeddings.search.fusion",
            "cannot both be 0",
        ),
        "search:\n    keyword: {stopwords: french}": ("embeddings.search.keyword.stopwords",),
    }
    for text, expected in mistakes.items():
        (conf / "local" / "embeddings.yml").write_text(f"embeddings:\n  {text}\n")
        with pytest.raises(ConfigError) as error:
            load_config("local", conf_dir=conf)
        assert all(part in str(error.value) for part in expected), (text, str(error.value))

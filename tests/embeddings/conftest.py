"""Embedding tests: small silver.tickets tables (five written by hand, or generated from the demo
generator's phrasings) and a configuration with short chunks."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import DataFrame, SparkSession

from lakehouse.config.embeddings import EmbeddingsSettings
from lakehouse.config.model import LakehouseConfig
from lakehouse.demo.generator import TICKET_TOPICS
from lakehouse.io.delta_store import DeltaStore
from lakehouse.storage.layout import StorageLayout

TICKETS_SCHEMA = (
    "ticket_id bigint, customer_id bigint, order_id bigint, product_id bigint, created_at timestamp, "
    "channel string, subject string, body string"
)
LONG_BODY = (
    "The battery of my headphones drains really fast, it is empty after about two hours. "
    "I already tried a full reset and two different chargers. It was like this from the first day, "
    "so it is not wear. Even in standby the percentage keeps dropping overnight, and it also gets "
    "noticeably warm while charging. Can you send me a replacement or tell me whether this is a "
    "known issue with this model?"
)
TICKETS = [
    (1, 10, 100, 7, "Battery drains fast", LONG_BODY, "email"),
    (2, 11, 101, 8, "Package arrived damaged", "The box was crushed and the lamp inside is broken.", "chat"),
    (
        3,
        12,
        102,
        7,
        "Refund not received",
        "I returned my order two weeks ago and got no money back.",
        "email",
    ),
    (4, 13, None, None, "Cannot log in", "The password reset email never arrives.", "phone"),
    (5, 14, 104, 9, "Wrong size", "The shoes are far too small, I need a bigger size.", "chat"),
]


def ticket_rows(tickets=TICKETS) -> list[tuple]:
    start = dt.datetime(2026, 1, 1, 9)
    return [
        (tid, customer, order, product, start + dt.timedelta(hours=tid), channel, subject, body)
        for tid, customer, order, product, subject, body, channel in tickets
    ]


TOPICS = sorted(TICKET_TOPICS)
CHANNELS = ("email", "chat", "phone")


def generated_tickets(count: int = 240) -> list[tuple]:
    """Tickets written from the demo generator's phrasings: topic ``i % 8``, varied sentences."""
    rows = []
    start = dt.datetime(2026, 1, 1)
    for i in range(count):
        topic = TICKET_TOPICS[TOPICS[i % len(TOPICS)]]
        pick = i // len(TOPICS)
        values = {"product": f"gadget {i % 13}", "order": 1000 + i, "amount": "49.90", "days": 3 + i % 9,
                  "hours": 2 + i % 5, "size": "M"}  # fmt: skip
        subject = topic.subjects[pick % len(topic.subjects)].format(**values)
        body = " ".join(
            [
                topic.problems[pick % len(topic.problems)].format(**values),
                topic.details[(pick // 2) % len(topic.details)],
                topic.asks[(pick // 3) % len(topic.asks)],
            ]
        )
        created = start + dt.timedelta(hours=7 * i)
        rows.append((i + 1, 100 + i % 40, 1000 + i, i % 13, created, CHANNELS[i % 3], subject, body))
    return rows


def write_tickets(spark: SparkSession, config: LakehouseConfig, rows: list[tuple]) -> DataFrame:
    frame = spark.createDataFrame(rows, TICKETS_SCHEMA)
    DeltaStore(spark, StorageLayout.from_config(config)).overwrite("silver.tickets", frame)
    return frame


def embedding_settings(**model) -> EmbeddingsSettings:
    return EmbeddingsSettings.model_validate(
        {
            # 32 tokens a chunk: the long ticket makes several chunks
            "model": {"max_tokens": 32, "overlap": 8, "batch_size": 16, **model},
            "tables": {
                "tickets": {
                    "source": "silver.tickets",
                    "id": "ticket_id",
                    "text": ["subject", "body"],
                    "metadata": ["created_at", "channel", "product_id"],
                }
            },
            "index": {"m": 16, "ef_construction": 40, "ef_search": 64, "exact_below": 0},
            "similar": {
                "similar_tickets": {
                    "embeddings": "tickets",
                    "k": 3,
                    "time": "created_at",
                    "condition": "product_id",
                }
            },
        }
    )


@pytest.fixture
def embedding_config(lakehouse_config: LakehouseConfig) -> LakehouseConfig:
    return lakehouse_config.model_copy(update={"embeddings": embedding_settings()})

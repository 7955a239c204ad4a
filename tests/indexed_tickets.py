"""Pytest plugin: embedded and indexed tickets tables made once for the whole test run.

Registered by ``pytest_plugins`` in tests/conftest.py. Embedding the 240 generated tickets and
building their index takes about a minute; the search, similarity and service tests each used to do
it themselves, and three embedding tests did the same with the five hand-written tickets. The
``indexed_tickets`` and ``indexed_small_tickets`` fixtures do it once each, in a lakehouse root of
their own that no test writes to: a test takes its own copy with :func:`copy_indexed_tickets` (a few
megabytes of Delta and index files, whose paths are all relative to the root) and may change the
copy as it likes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from lakehouse.config import LakehouseConfig
from lakehouse.runs.runner import run_job
from lakehouse.storage.catalog import TABLES_ROOT_PROPERTY
from lakehouse.storage.layout import StorageLayout
from tests.embeddings.conftest import embedding_settings, generated_tickets, ticket_rows, write_tickets


@dataclass(frozen=True)
class IndexedTickets:
    """A ``silver.tickets`` table embedded (``gold.tickets_embeddings``, by :func:`embedding_settings`)
    and indexed, in the lakehouse at ``root``; each job ran once."""

    root: Path
    tickets: list[tuple]


def embed_and_index(
    spark, session_config: LakehouseConfig, root: Path, tickets: list[tuple]
) -> IndexedTickets:
    from tests.conftest import with_root

    config = with_root(session_config, root).model_copy(update={"embeddings": embedding_settings()})
    previous = spark.conf.get(TABLES_ROOT_PROPERTY)
    spark.conf.set(TABLES_ROOT_PROPERTY, StorageLayout.from_config(config).tables_root)
    try:
        write_tickets(spark, config, tickets)
        assert run_job("embed_documents", config, spark=spark).succeeded
        assert run_job("build_index", config, spark=spark).succeeded
    finally:
        spark.conf.set(TABLES_ROOT_PROPERTY, previous)
    return IndexedTickets(root, tickets)


@pytest.fixture(scope="session")
def indexed_tickets(spark, session_config: LakehouseConfig, tmp_path_factory) -> IndexedTickets:
    """The 240 :func:`generated_tickets`, embedded and indexed."""
    root = tmp_path_factory.mktemp("indexed-tickets") / "lakehouse"
    return embed_and_index(spark, session_config, root, generated_tickets())


@pytest.fixture(scope="session")
def indexed_small_tickets(spark, session_config: LakehouseConfig, tmp_path_factory) -> IndexedTickets:
    """The five hand-written tickets of :func:`ticket_rows`, embedded and indexed."""
    root = tmp_path_factory.mktemp("indexed-small-tickets") / "lakehouse"
    return embed_and_index(spark, session_config, root, ticket_rows())


def copy_indexed_tickets(indexed: IndexedTickets, config: LakehouseConfig) -> list[tuple]:
    """Copy an indexed tickets lakehouse to ``config``'s (empty or missing) local root; returns the
    tickets of its ``silver.tickets``."""
    shutil.copytree(indexed.root, StorageLayout.from_config(config).root, dirs_exist_ok=True)
    return indexed.tickets

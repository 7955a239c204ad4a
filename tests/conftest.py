"""Shared fixtures: one SparkSession for the whole test session, a fresh lakehouse root per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# pandas-on-Spark (imported by pyspark.testing) asks for this before any session starts
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")

from lakehouse.config import LakehouseConfig, load_config

pytest_plugins = ["tests.postgres_server", "tests.indexed_tickets"]
PROJECT_DIR = Path(__file__).resolve().parents[1]
CONF_DIR = PROJECT_DIR / "conf"

# Small settings: tests move a few rows, so few partitions keep them fast on two cores.
TEST_SPARK_CONFIG = {
    "spark.sql.shuffle.partitions": 2,
    "spark.default.parallelism": 2,
    "spark.databricks.delta.snapshotPartitions": 2,
    "spark.driver.memory": "2g",
    # Whole-stage code generation compiles Java for every query: on a few rows the compiling costs
    # more than it saves (tests/silver runs in 138 s without it against 176-203 s with it)
    "spark.sql.codegen.wholeStage": "false",
}


def with_root(config: LakehouseConfig, root: Path) -> LakehouseConfig:
    """A copy of ``config`` whose local lakehouse lives at ``root``."""
    return config.model_copy(update={"storage": config.storage.model_copy(update={"root": str(root)})})


@pytest.fixture(scope="session")
def session_config(tmp_path_factory: pytest.TempPathFactory) -> LakehouseConfig:
    """The shipped ``local`` environment, rooted in a temporary folder, with small Spark settings."""
    root = tmp_path_factory.mktemp("session-lakehouse")
    config = load_config("local", conf_dir=CONF_DIR, environ={**os.environ, "LAKEHOUSE_ROOT": str(root)})
    spark = config.spark.model_copy(update={"config": {**config.spark.config, **TEST_SPARK_CONFIG}})
    return config.model_copy(update={"spark": spark})


@pytest.fixture(scope="session")
def spark(session_config: LakehouseConfig):
    """The one SparkSession of the test run (Delta, SynapseML and hadoop-azure jars loaded)."""
    from lakehouse.spark.session import build_session

    session = build_session(session_config, app_name="lakehouse tests")
    yield session
    session.stop()


@pytest.fixture
def lakehouse_config(session_config: LakehouseConfig, tmp_path: Path) -> LakehouseConfig:
    """The session's configuration with a fresh, empty lakehouse root for this test."""
    return with_root(session_config, tmp_path / "lakehouse")


@pytest.fixture
def lakehouse_session(spark, lakehouse_config: LakehouseConfig):
    """The shared session, resolving ``<layer>.<table>`` names in this test's lakehouse root."""
    from lakehouse.storage.catalog import TABLES_ROOT_PROPERTY
    from lakehouse.storage.layout import StorageLayout

    previous = spark.conf.get(TABLES_ROOT_PROPERTY)
    spark.conf.set(TABLES_ROOT_PROPERTY, StorageLayout.from_config(lakehouse_config).tables_root)
    yield spark
    spark.conf.set(TABLES_ROOT_PROPERTY, previous)

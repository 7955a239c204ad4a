"""Helpers of the ingestion tests: a configuration with sources, and landing files by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.config import LakehouseConfig, SourceSettings
from lakehouse.ingest.sources import ingest_source
from lakehouse.runs.runner import make_context
from lakehouse.storage.layout import StorageLayout


def with_sources(config: LakehouseConfig, **sources: dict) -> LakehouseConfig:
    """``config`` with these sources (name -> SourceSettings fields), checked like the loader does."""
    built = {name: SourceSettings(**fields) for name, fields in sources.items()}
    updated = config.model_copy(update={"sources": {**config.sources, **built}})
    problems = updated.check()
    assert not problems, problems
    return updated


@pytest.fixture
def landing(lakehouse_config: LakehouseConfig) -> Path:
    """The landing folder of this test's lakehouse."""
    path = Path(StorageLayout.from_config(lakehouse_config).files_location("landing"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def land(landing: Path, relative: str, text: str) -> Path:
    """Write one landed file (parents created)."""
    path = landing / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def ingest(spark, config: LakehouseConfig, name: str):
    """Ingest one source as the job would, and return its IngestResult."""
    context = make_context("bronze_ingest", config, spark, params=None)
    return ingest_source(context.tables, context.config, context.run_id, name)

"""Ingest a configured source (``sources.<name>``) with the reader its format needs."""

from __future__ import annotations

from lakehouse.ingest.database import DatabaseIngest
from lakehouse.ingest.files import FileIngest
from lakehouse.ingest.result import IngestResult
from lakehouse.runs.context import JobContext


def ingest_source(context: JobContext, name: str) -> IngestResult:
    """Ingest one source into its bronze table: new files, or database rows past the watermark."""
    settings = context.config.sources[name]
    table = context.config.source_table(name)
    reader = DatabaseIngest if settings.format == "jdbc" else FileIngest
    return reader(context, name, settings, table).run()

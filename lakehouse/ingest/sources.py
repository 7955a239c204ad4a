"""Ingest a configured source (``sources.<name>``) with the reader its format needs."""

from __future__ import annotations

from lakehouse.config.model import LakehouseConfig
from lakehouse.ingest.database import DatabaseIngest
from lakehouse.ingest.files import FileIngest
from lakehouse.ingest.formats import FORMATS
from lakehouse.ingest.result import IngestResult
from lakehouse.io.delta_store import DeltaStore

# the reader of each source format: a database's rows past the watermark, or landed files (one
# format class each in lakehouse.ingest.formats)
READERS: dict[str, type[DatabaseIngest] | type[FileIngest]] = {
    "jdbc": DatabaseIngest,
    **dict.fromkeys(FORMATS, FileIngest),
}


def ingest_source(tables: DeltaStore, config: LakehouseConfig, run_id: str, name: str) -> IngestResult:
    """Ingest one source into its bronze table: new files, or database rows past the watermark."""
    settings = config.sources[name]
    table = config.source_table(name)
    return READERS[settings.format](tables, config, run_id, name, settings, table).run()

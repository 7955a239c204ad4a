"""Ingest a configured source (``sources.<name>``) with the reader its format needs."""

from __future__ import annotations

from lakehouse.errors import ConfigError
from lakehouse.ingest.database import DatabaseIngest
from lakehouse.ingest.files import FileIngest
from lakehouse.ingest.result import IngestResult
from lakehouse.runs.context import JobContext


def source_names(context: JobContext, selection: str) -> list[str]:
    """The sources a selection names: ``all`` (every enabled source) or a comma-separated list.

    Raises:
        ConfigError: a named source is not in ``sources.yml``.
    """
    sources = context.config.sources
    if selection.strip() in ("", "all"):
        return [name for name, source in sources.items() if source.enabled]
    names = [name.strip() for name in selection.split(",") if name.strip()]
    unknown = [name for name in names if name not in sources]
    if unknown:
        known = ", ".join(sorted(sources)) or "none"
        raise ConfigError(f"sources {unknown} are not in sources.yml; sources: {known}")
    return names


def ingest_source(context: JobContext, name: str) -> IngestResult:
    """Ingest one source into its bronze table: new files, or database rows past the watermark."""
    settings = context.config.sources[name]
    table = context.config.source_table(name)
    reader = DatabaseIngest if settings.format == "jdbc" else FileIngest
    return reader(context, name, settings, table).run()

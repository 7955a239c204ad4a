"""The ``bronze_ingest`` job: land raw sources in bronze tables, incrementally and exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lakehouse.config.model import LakehouseConfig
from lakehouse.errors import IngestError
from lakehouse.ingest.result import IngestResult
from lakehouse.ingest.sources import ingest_source
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Choices, Job, for_each


@dataclass(frozen=True)
class BronzeIngestParams:
    source: str = "all"  # a source of sources.yml (or its table), a comma-separated list, or all enabled


class BronzeIngestJob(Job):
    name = "bronze_ingest"
    summary = "Ingest new landed files and changed database rows into bronze tables (one source or all)."
    Params = BronzeIngestParams

    @classmethod
    def choices(cls, config: LakehouseConfig, params: Any) -> dict[str, Choices]:
        """``source`` picks sources of sources.yml, by name or table; ``all``: the enabled ones."""
        sources = config.sources
        return {
            "source": Choices.of(
                list(sources),
                "sources (sources.yml)",
                aliases={config.source_table(name): name for name in sources},
                everything=[name for name, source in sources.items() if source.enabled],
            )
        }

    @classmethod
    def exclusive(cls, config: LakehouseConfig, params: Any) -> list[str]:
        """The bronze table of each source picked: one ingest of a source at a time."""
        return [config.source_table(name) for name in cls.selected(config, params, "source")]

    def run(self, context: JobContext) -> None:
        names = self.selected(context.config, context.params, "source")
        for_each(
            names, lambda name: self._ingest(context, name), context.log, "source", "sources", IngestError
        )

    @staticmethod
    def _ingest(context: JobContext, name: str) -> IngestResult:
        """Ingest one source and say what it wrote."""
        result = ingest_source(context.tables, context.config, context.run_id, name)
        context.log.info(
            "source %s -> %s: %d rows, %d files, %d malformed%s%s",
            result.source,
            result.table,
            result.rows,
            result.files,
            result.malformed,
            f", new columns {result.new_columns}" if result.new_columns else "",
            f" ({result.detail})" if result.detail else "",
        )
        if result.malformed:
            context.log.warning(
                "source %s: %d malformed rows kept in %s._corrupt_record",
                result.source,
                result.malformed,
                result.table,
            )
        return result

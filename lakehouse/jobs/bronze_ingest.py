"""The ``bronze_ingest`` job: land raw sources in bronze tables, incrementally and exactly once."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.errors import IngestError
from lakehouse.ingest.result import IngestResult
from lakehouse.ingest.sources import ingest_source, source_names
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job, raise_collected


@dataclass(frozen=True)
class BronzeIngestParams:
    source: str = "all"  # a source of sources.yml, a comma-separated list, or all


class BronzeIngestJob(Job):
    name = "bronze_ingest"
    summary = "Ingest new landed files and changed database rows into bronze tables (one source or all)."
    Params = BronzeIngestParams

    def run(self, context: JobContext) -> None:
        names = source_names(context, context.params.source)
        results: list[IngestResult] = []
        failed: dict[str, Exception] = {}
        for name in names:  # one bad source does not hold the others back
            try:
                results.append(ingest_source(context, name))
            except Exception as error:
                context.log.error("source %s failed: %s", name, error)
                failed[name] = error
        for result in results:
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
        raise_collected(failed, len(names), "sources", IngestError)

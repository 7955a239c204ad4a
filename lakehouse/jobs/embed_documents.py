"""The ``embed_documents`` job: bring the embedding tables of embeddings.yml up to date."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.embeddings.build import embed_table
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job, for_each, selected_names


@dataclass(frozen=True)
class EmbedDocumentsParams:
    table: str = "all"  # an embedding table of embeddings.yml, a comma-separated list, or all
    full_refresh: bool = False  # embed every chunk again, even those already embedded by this model


class EmbedDocumentsJob(Job):
    name = "embed_documents"
    summary = "Embed new and changed documents of silver tables into gold.<name>_embeddings."
    Params = EmbedDocumentsParams

    def run(self, context: JobContext) -> None:
        params = context.params
        tables = context.config.embeddings.tables
        declared = "embeddings.tables (embeddings.yml)"
        names = selected_names(list(tables), params.table, "gold", declared, "table")
        for_each(
            names,
            lambda name: embed_table(context, name, params.full_refresh),
            context.log,
            "embedding table",
            "embedding tables",
        )

"""The ``build_index`` job: build or refresh the vector index of each embedding table."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job, for_each, selected_names
from lakehouse.search.build import build_index


@dataclass(frozen=True)
class BuildIndexParams:
    table: str = "all"  # an embedding table of embeddings.yml, a comma-separated list, or all
    full: bool = False  # build from scratch instead of refreshing


class BuildIndexJob(Job):
    name = "build_index"
    summary = "Build or refresh the FAISS HNSW index of each embedding table, at its latest version."
    Params = BuildIndexParams

    def run(self, context: JobContext) -> None:
        params = context.params
        tables = context.config.embeddings.tables
        declared = "embeddings.tables (embeddings.yml)"
        names = selected_names(list(tables), params.table, "gold", declared, "table")
        for_each(
            names,
            lambda name: build_index(context, name, params.full),
            context.log,
            "index of table",
            "indexes",
        )

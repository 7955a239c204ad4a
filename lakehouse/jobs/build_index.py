"""The ``build_index`` job: build or refresh the vector index of each embedding table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lakehouse.config.model import LakehouseConfig
from lakehouse.jobs.embed_documents import embedding_tables
from lakehouse.runs.context import JobContext
from lakehouse.runs.guard import index_target
from lakehouse.runs.job import Choices, Job, for_each
from lakehouse.search.build import build_index


@dataclass(frozen=True)
class BuildIndexParams:
    table: str = "all"  # an embedding table of embeddings.yml, a comma-separated list, or all
    full: bool = False  # build from scratch instead of refreshing


class BuildIndexJob(Job):
    name = "build_index"
    summary = "Build or refresh the FAISS HNSW index of each embedding table, at its latest version."
    Params = BuildIndexParams

    @classmethod
    def choices(cls, config: LakehouseConfig, params: Any) -> dict[str, Choices]:
        """``table`` picks embedding tables of embeddings.yml."""
        return {"table": embedding_tables(config)}

    @classmethod
    def exclusive(cls, config: LakehouseConfig, params: Any) -> list[str]:
        """The index of each embedding table picked: one build of an index at a time."""
        return [index_target(config.embeddings.table(name)) for name in cls.selected(config, params, "table")]

    def run(self, context: JobContext) -> None:
        params = context.params
        names = self.selected(context.config, params, "table")
        for_each(
            names,
            lambda name: build_index(context.tables, context.config.embeddings, name, params.full),
            context.log,
            "index of table",
            "indexes",
        )

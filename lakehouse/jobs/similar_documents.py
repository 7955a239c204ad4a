"""The ``similar_documents`` job: the similarity joins of embeddings.yml (``lakehouse.search.similar``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lakehouse.config.model import LakehouseConfig
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Choices, Job, for_each
from lakehouse.search.similar import update_similar


@dataclass(frozen=True)
class SimilarDocumentsParams:
    join: str = "all"  # a similarity join of embeddings.similar, a comma-separated list, or all


class SimilarDocumentsJob(Job):
    name = "similar_documents"
    summary = "For each new document, its most similar earlier documents into gold.<join>."
    Params = SimilarDocumentsParams

    @classmethod
    def choices(cls, config: LakehouseConfig, params: Any) -> dict[str, Choices]:
        """``join`` picks similarity joins of embeddings.yml (with or without ``gold.``)."""
        joins = list(config.embeddings.similar)
        return {"join": Choices.of(joins, "embeddings.similar (embeddings.yml)", prefix="gold.")}

    def run(self, context: JobContext) -> None:
        names = self.selected(context.config, context.params, "join")
        for_each(
            names,
            lambda name: update_similar(context.tables, context.config.embeddings, name),
            context.log,
            "similarity join",
            "similarity joins",
        )

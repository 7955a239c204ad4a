"""The ``similar_documents`` job: similarity joins of embeddings.yml with SynapseML's KNN."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job, for_each, selected_names
from lakehouse.search.similar import update_similar


@dataclass(frozen=True)
class SimilarDocumentsParams:
    join: str = "all"  # a similarity join of embeddings.similar, a comma-separated list, or all


class SimilarDocumentsJob(Job):
    name = "similar_documents"
    summary = "For each new document, its most similar earlier documents (SynapseML KNN) into gold.<join>."
    Params = SimilarDocumentsParams

    def run(self, context: JobContext) -> None:
        joins = context.config.embeddings.similar
        declared = "embeddings.similar (embeddings.yml)"
        names = selected_names(list(joins), context.params.join, "gold", declared, "join")
        for_each(
            names,
            lambda name: update_similar(context, name),
            context.log,
            "similarity join",
            "similarity joins",
        )

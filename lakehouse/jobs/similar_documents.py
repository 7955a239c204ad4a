"""The ``similar_documents`` job: similarity joins of embeddings.yml with SynapseML's KNN."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.errors import LakehouseError
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job, raise_collected, selected_names
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
        failed: dict[str, Exception] = {}
        for name in names:
            try:
                update_similar(context, name)
            except LakehouseError as error:
                context.log.error("similarity join %s failed: %s", name, error)
                failed[name] = error
        raise_collected(failed, len(names), "similarity joins", LakehouseError)

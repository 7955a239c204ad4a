"""The sample data job: land a real public data set, shipped offline inside installed packages.

A data set bundled with scikit-learn goes to ``<root>/files/landing/<dataset>/<dataset>.csv`` (one
row per sample: ``sample_id``, the features, the target). ``docstrings``, the retrieval test set of
:mod:`lakehouse.samples.docstrings`, goes to ``<root>/files/landing/docstrings/docstrings.parquet``
(one row per documented function, class or method) with its labels, the queries and relevant
documents, under ``<root>/files/samples/docstrings`` (where ``embeddings.evaluations.docstrings``
reads them). ``bronze_ingest`` then ingests the landed file like any other. Writes no lakehouse
table. Running it again leaves the files as they are, so nothing is ingested twice.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from lakehouse.errors import JobParameterError
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job
from lakehouse.samples import docstrings
from lakehouse.samples.datasets import SAMPLE_DATASETS, land_sample


@dataclass(frozen=True)
class SampleDataParams:
    """Parameters of the ``sample_data`` job.

    Attributes:
        dataset: ``breast_cancer`` (binary: malignant or benign), ``diabetes`` (regression) or
            ``docstrings`` (a labelled retrieval set).
    """

    dataset: str = "breast_cancer"

    def __post_init__(self) -> None:
        known = [*SAMPLE_DATASETS, docstrings.NAME]
        if self.dataset not in known:  # refused before Spark starts
            close = difflib.get_close_matches(self.dataset, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise JobParameterError(
                f"job sample_data: parameter dataset: no sample data set {self.dataset!r}; {hint}"
                f"known: {', '.join(known)}"
            )


class SampleDataJob(Job):
    name = "sample_data"
    summary = (
        "Land a real public data set shipped in installed packages: scikit-learn's breast_cancer or "
        "diabetes (CSV), or docstrings, a labelled retrieval set (Parquet)."
    )
    Params = SampleDataParams

    def run(self, context: JobContext) -> None:
        params: SampleDataParams = context.params
        if params.dataset == docstrings.NAME:
            landed_set = docstrings.land_docstrings(
                context.spark,
                context.layout.files_location("landing"),
                context.layout.files_location("samples", docstrings.NAME),
            )
            context.log.info(
                "docstrings: %d documents %s %s; queries %s, relevance %s",
                landed_set.rows,
                "landed in" if landed_set.written else "already landed, unchanged:",
                landed_set.documents,
                landed_set.queries,
                landed_set.relevance,
            )
            return
        landed = land_sample(context.spark, context.layout.files_location("landing"), params.dataset)
        context.log.info(
            "%s: %d rows %s %s",
            params.dataset,
            landed.rows,
            "landed in" if landed.written else "already landed, unchanged:",
            landed.location,
        )

"""The sample data job: land a real public data set bundled with scikit-learn as a CSV file.

Writes ``<root>/files/landing/<dataset>/<dataset>.csv`` (one row per sample: ``sample_id``, the
features, the target), which ``bronze_ingest`` then ingests like any landed file. Writes no
lakehouse table. Running it again leaves the file as it is, so nothing is ingested twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.errors import JobParameterError
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job
from lakehouse.samples.datasets import land_sample, sample_dataset


@dataclass(frozen=True)
class SampleDataParams:
    """Parameters of the ``sample_data`` job.

    Attributes:
        dataset: ``breast_cancer`` (binary: malignant or benign) or ``diabetes`` (regression).
    """

    dataset: str = "breast_cancer"

    def __post_init__(self) -> None:
        try:
            sample_dataset(self.dataset)
        except ValueError as error:  # refused before Spark starts
            raise JobParameterError(f"job sample_data: parameter dataset: {error}") from None


class SampleDataJob(Job):
    name = "sample_data"
    summary = "Land a real public data set bundled with scikit-learn (breast_cancer, diabetes) as a CSV file."
    Params = SampleDataParams

    def run(self, context: JobContext) -> None:
        params: SampleDataParams = context.params
        landed = land_sample(context.spark, context.layout.files_location("landing"), params.dataset)
        context.log.info(
            "%s: %d rows %s %s",
            params.dataset,
            landed.rows,
            "landed in" if landed.written else "already landed, unchanged:",
            landed.location,
        )

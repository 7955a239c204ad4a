"""The ``quality_report`` job: write the data-quality HTML report (what ``lakehouse quality report`` does)."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.quality.report import DEFAULT_RUNS, write_quality_report
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job


@dataclass(frozen=True)
class QualityReportParams:
    output: str = ""  # a local HTML file; empty: <lakehouse root>/files/reports/quality.html
    runs: int = DEFAULT_RUNS  # runs per table in the trend


class QualityReportJob(Job):
    name = "quality_report"
    summary = "Write the data-quality report (ops.quality_results, pending quarantine) as one HTML file."
    Params = QualityReportParams

    def run(self, context: JobContext) -> None:
        params: QualityReportParams = context.params
        written = write_quality_report(context.spark, context.config, params.output or None, params.runs)
        context.outputs["quality_report"] = str(written)
        print(f"quality report: {written}")

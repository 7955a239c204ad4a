"""Small jobs for the run-guard tests, loaded as ``tests.runs.jobs:<Class>`` (real Spark and Delta)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehouse.config.model import LakehouseConfig
from lakehouse.quality.records import record_results
from lakehouse.quality.validation import ExpectationResult
from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job


@dataclass(frozen=True)
class HoldParams:
    table: str = "bronze.held"  # the table the job writes exclusively
    started: str = ""  # a file the job writes once it holds its table (its run id inside)
    release: str = ""  # the job ends once this file exists
    timeout: float = 300.0


class HoldJob(Job):
    """Records one validation in ops.quality_results, then holds its table until told to end: a
    long refine that a test kills, or runs twice at once."""

    name = "hold"
    summary = "test job: validate, then hold a table until a file appears"
    Params = HoldParams

    @classmethod
    def exclusive(cls, config: LakehouseConfig, params: Any) -> list[str]:
        return [params.table]

    def run(self, context: JobContext) -> None:
        params = context.params
        result = ExpectationResult(params.table, "id not null", "not_null", "warn", True, 3, 0, 0.0)
        record_results(context.spark, context.layout, [result], context.run_id, context.job)
        if params.started:
            Path(params.started).write_text(context.run_id)
        deadline = time.monotonic() + params.timeout
        while params.release and not Path(params.release).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{params.release} never appeared")
            time.sleep(0.2)
        context.tables.overwrite(params.table, context.spark.range(3))

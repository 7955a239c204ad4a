"""What a running job receives: the session, the configuration, its parameters and table I/O."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from lakehouse.config.model import LakehouseConfig
from lakehouse.io.delta_store import DeltaStore
from lakehouse.storage.layout import StorageLayout


@dataclass
class JobContext:
    """Everything a job needs, handed to :meth:`Job.run`.

    Attributes:
        spark: the session (shared by the jobs of one pipeline run).
        config: the environment's configuration.
        layout: resolves table names and file locations.
        tables: reads and writes tables; every write is recorded for the run.
        params: the job's typed parameters (an instance of ``Job.Params``).
        run_id: this run's id, also stored in each Delta commit the run makes.
        job: the job's name.
        log: a logger named after the job.
        rows_written: rows written per table so far (filled by ``tables``).
        tables_read: the Delta version of each table read (filled by ``tables``): the run's lineage.
        metrics: figures worth keeping with the run (``churn.test_roc_auc``), recorded in
            ``ops.job_runs`` and shown by pipeline reports.
        outputs: files the run wrote for people (``quality_report``: its path), recorded likewise.
        pipeline_run_id: the pipeline run this job run belongs to, if any.
    """

    spark: SparkSession
    config: LakehouseConfig
    layout: StorageLayout
    tables: DeltaStore
    params: Any
    run_id: str
    job: str
    log: logging.Logger
    rows_written: dict[str, int] = field(default_factory=dict)
    tables_read: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    pipeline_run_id: str | None = None

    @property
    def env(self) -> str:
        """The environment this run belongs to."""
        return self.config.env

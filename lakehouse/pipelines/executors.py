"""How a pipeline's tasks run: each job in the pipeline's own SparkSession (``session`` mode), or
as one ``spark-submit`` of its entry point (``submit`` mode), and the small local session that
keeps the run records in submit mode."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.config.model import LakehouseConfig
from lakehouse.pipelines.plan import PlannedTask
from lakehouse.runs.records import JobRun
from lakehouse.runs.runner import JobFailedError, read_job_runs, run_job
from lakehouse.spark.session import session_properties

log = logging.getLogger(__name__)


@dataclass
class Attempt:
    """What one attempt at a task gave: the job run's record (None if none was made) and the error."""

    record: JobRun | None
    error: str | None = None


def bookkeeping_config(config: LakehouseConfig) -> LakehouseConfig:
    """The configuration of the small local session that keeps the records in submit mode (the jobs
    get the cluster's cores)."""
    spark = config.spark.model_copy(update={"master": "local[1]"})
    return config.model_copy(update={"spark": spark})


@contextmanager
def bookkeeping_session(config: LakehouseConfig, app_name: str) -> Iterator[SparkSession]:
    """A small ``local[1]`` session for reading and writing the run records, stopped on exit."""
    from lakehouse.spark.session import build_session

    spark = build_session(bookkeeping_config(config), app_name=app_name)
    try:
        yield spark
    finally:
        spark.stop()


class SessionExecutor:
    """Runs each job in one shared SparkSession (``session`` mode)."""

    def __init__(self, config: LakehouseConfig, spark: SparkSession):
        self.config, self.spark = config, spark

    def run(self, task: PlannedTask, run_id: str, pipeline_run_id: str) -> Attempt:
        try:
            record = run_job(task.job, self.config, task.params, self.spark, run_id, pipeline_run_id)
        except JobFailedError as error:
            return Attempt(error.run, f"{error.run.error_class}: {error.run.error_message}")
        return Attempt(record)


class SubmitExecutor:
    """Runs each job as one ``spark-submit`` of its entry point (``submit`` mode), then reads the
    run's record from ``ops.job_runs`` with the bookkeeping session."""

    def __init__(self, config: LakehouseConfig, spark: SparkSession, environ: dict[str, str] | None = None):
        self.config, self.spark = config, spark
        self.environ = dict(os.environ if environ is None else environ)

    def command(self, task: PlannedTask, run_id: str, pipeline_run_id: str) -> list[str]:
        """The ``spark-submit`` command line of one task (no secrets: they stay in the environment)."""
        return spark_submit_command(self.config, task.job, task.params, run_id, pipeline_run_id)

    def run(self, task: PlannedTask, run_id: str, pipeline_run_id: str) -> Attempt:
        command = self.command(task, run_id, pipeline_run_id)
        environ = {**self.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
        log.info("task %s: %s", task.label, " ".join(command))
        completed = subprocess.run(command, env=environ, check=False)
        record = read_job_runs(self.spark, self.config, [run_id]).get(run_id)
        if record is not None and record.succeeded and completed.returncode == 0:
            return Attempt(record)
        if record is not None and not record.succeeded:
            return Attempt(record, f"{record.error_class}: {record.error_message}")
        return Attempt(record, f"spark-submit exited with code {completed.returncode} (run {run_id})")


def job_application(config: LakehouseConfig, job: str) -> str:
    """The file ``spark-submit`` runs for a job: ``jobs/<job>.py`` of the project, else the
    package's generic launcher (a job of your own package, ``package.module:JobClass``)."""
    entry = config.project_dir / "jobs" / f"{job}.py"
    if ":" not in job and entry.is_file():
        return str(entry)
    return str(Path(__file__).resolve().parents[1] / "runs" / "launch.py")


def spark_submit_command(
    config: LakehouseConfig,
    job: str,
    params: dict[str, str],
    run_id: str | None = None,
    pipeline_run_id: str | None = None,
    spark_submit: str | None = None,
) -> list[str]:
    """``spark-submit`` with the environment's master and Spark properties (jars, catalog,
    extensions), the job's entry point, and its arguments."""
    import pyspark

    binary = spark_submit or str(Path(pyspark.__file__).parent / "bin" / "spark-submit")
    command = [binary]
    if config.spark.master:
        command += ["--master", config.spark.master]
    command += ["--name", f"lakehouse {job}"]
    for key, value in session_properties(config).items():
        command += ["--conf", f"{key}={value}"]
    application = job_application(config, job)
    command.append(application)
    if application.endswith("launch.py"):
        command.append(job)
    command += ["--env", config.env]
    if config.conf_dir is not None:
        command += ["--conf-dir", str(config.conf_dir)]
    for key, value in params.items():
        command += ["--param", f"{key}={value}"]
    if run_id:
        command += ["--run-id", run_id]
    if pipeline_run_id:
        command += ["--pipeline-run-id", pipeline_run_id]
    return command

"""Jobs and their runs: the Job base class, the runner, and the ``ops.job_runs`` record."""

from lakehouse.runs.context import JobContext
from lakehouse.runs.job import Job, available_jobs, find_job
from lakehouse.runs.records import JOB_RUNS_TABLE, JobRun
from lakehouse.runs.runner import JobFailedError, run_job

__all__ = [
    "JOB_RUNS_TABLE",
    "Job",
    "JobContext",
    "JobFailedError",
    "JobRun",
    "available_jobs",
    "find_job",
    "run_job",
]

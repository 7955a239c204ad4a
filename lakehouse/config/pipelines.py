"""Pipelines: tasks, schedule, retries, lock and services (pipelines.yml)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from lakehouse.config.section import Scalar, Section


class PipelineTaskSettings(Section):
    """One task of a pipeline (``pipelines.<name>.tasks.<task>``): a job, its parameters, what it
    waits for."""

    job: str | None = Field(
        default=None,
        description=(
            "The registered job (`lakehouse jobs`) or `package.module:JobClass`; defaults to the task's name."
        ),
    )
    params: dict[str, Scalar] = Field(
        default_factory=dict,
        description=(
            "Parameters over the job's defaults of jobs.yml; strings may use {date}, {date-1}, {date+1}: "
            "the run's logical date, shifted by days."
        ),
    )
    after: list[str] = Field(
        default_factory=list, description="Tasks of this pipeline that must succeed first."
    )
    retries: int | None = Field(
        default=None, ge=0, description="Attempts after a failure (default: the pipeline's)."
    )
    retry_delay_seconds: float | None = Field(default=None, ge=0)

    def job_name(self, task: str) -> str:
        return self.job or task


class PipelineLockSettings(Section):
    """How a pipeline run's lock detects a run that died without releasing it."""

    heartbeat_seconds: float = Field(default=30.0, gt=0, description="How often a run refreshes its lock.")
    stale_after_seconds: float = Field(
        default=600.0,
        gt=0,
        description=(
            "A lock whose heartbeat is older than this is stale (a run on this host whose process is "
            "gone is stale at once)."
        ),
    )


class PipelineSettings(Section):
    """A pipeline (``pipelines.<name>`` in ``pipelines.yml``): jobs in dependency order, on a schedule."""

    description: str = ""
    schedule: str | None = Field(
        default=None, description="Cron expression (UTC) or @daily, @hourly...; used by cron and Airflow."
    )
    mode: Literal["auto", "session", "submit"] = Field(
        default="auto",
        description=(
            "session: every job in this process's SparkSession; submit: one spark-submit per job; auto: "
            "session on a local master, submit otherwise."
        ),
    )
    retries: int = Field(default=0, ge=0, description="Attempts after a failure, per task.")
    retry_delay_seconds: float = Field(default=30.0, ge=0, description="Wait before the first retry.")
    retry_backoff: float = Field(
        default=2.0, ge=1.0, description="Each further wait is this many times longer."
    )
    max_retry_delay_seconds: float = Field(default=600.0, ge=0)
    max_catch_up: int = Field(
        default=7, ge=1, description="--catch-up runs at most this many missed logical dates (the newest)."
    )
    services: list[str] = Field(
        default_factory=list,
        description=(
            "Services started before the jobs, by their registered names (entry points "
            "lakehouse.services), e.g. [local_database]: the demo's PostgreSQL server."
        ),
    )
    landed: list[str] = Field(
        default_factory=list,
        description=(
            "Folders under the lakehouse's files root (or URIs) where each logical date's data lands, with a "
            "{date} placeholder (e.g. landing/orders/{date}): a date whose folders are missing or empty is "
            "refused before any job runs."
        ),
    )
    lock: PipelineLockSettings = Field(default_factory=PipelineLockSettings)
    tasks: dict[str, PipelineTaskSettings] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _local_database_flag(cls, data: Any) -> Any:
        """``local_database: true``, the earlier spelling of ``services: [local_database]``."""
        if isinstance(data, dict) and "local_database" in data:
            data = dict(data)
            if data.pop("local_database") is True:
                services = list(data.get("services") or [])
                data["services"] = services if "local_database" in services else [*services, "local_database"]
        return data

    def edges(self) -> dict[str, list[str]]:
        """Each task and the tasks it waits for, in declared order."""
        return {name: list(task.after) for name, task in self.tasks.items()}

"""Run a pipeline: its tasks in dependency order for each logical date, with retries, a lock,
resume after a failure, and a record in ``ops.pipeline_runs``.

On a local master every job runs in this process's SparkSession, one after the other (the
session starts once); on a cluster each job is one ``spark-submit`` of its entry point, while this
process keeps the records with a small local session.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pyspark.sql import SparkSession

from lakehouse import __version__
from lakehouse.config.model import LakehouseConfig
from lakehouse.config.pipelines import PipelineSettings
from lakehouse.io import files
from lakehouse.log import scrub
from lakehouse.pipelines.events import (
    Event,
    ProgressPrinter,
    RunStarted,
    StaleLockReleased,
    TaskBlocked,
    TaskFailed,
    TaskRetrying,
    TaskRunning,
    TaskSkipped,
    TaskSucceeded,
    shown,
)
from lakehouse.pipelines.executors import (
    SessionExecutor,
    SubmitExecutor,
    bookkeeping_config,
)
from lakehouse.pipelines.landed import LandedFolder, check_landed
from lakehouse.pipelines.lock import LockOwner, PipelineLock, lock_location
from lakehouse.pipelines.plan import (
    Plan,
    PlannedTask,
    RunOptions,
    pipeline_settings,
    plan_run,
    resolve_mode,
    retry_delay,
)
from lakehouse.pipelines.records import (
    ABANDONED,
    FAILED,
    FINISHED_OK,
    PENDING,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    UPSTREAM_FAILED,
    PipelineRun,
    PipelineRunStore,
    TaskRun,
)
from lakehouse.pipelines.services import start_services
from lakehouse.pipelines.summary import summary, table_sizes
from lakehouse.storage.layout import StorageLayout

log = logging.getLogger(__name__)
Output = Callable[[str], None]


@dataclass
class PipelineRunner:
    """Runs one plan: lock, records, retries, progress lines, and the end summary.

    Args:
        config: the environment.
        spark: the session that keeps the records (and, in session mode, runs the jobs).
        out: where progress lines go (``print`` by default), and the lines of the services started.
        sleep: waits between retries (tests pass a recorder).
        executor: runs one attempt of a task; by default the plan's mode decides.
        on_event: what the run tells as it goes (:mod:`lakehouse.pipelines.events`); by default
            a :class:`~lakehouse.pipelines.events.ProgressPrinter` writing to ``out``.
    """

    config: LakehouseConfig
    spark: SparkSession
    out: Output = print
    sleep: Callable[[float], None] = time.sleep
    executor: SessionExecutor | SubmitExecutor | None = None
    on_event: Callable[[Event], None] | None = None
    lock: PipelineLock | None = field(default=None, init=False)
    facts: dict | None = field(default=None, init=False)  # the last run's report facts

    def __post_init__(self) -> None:
        self.layout = StorageLayout.from_config(self.config)
        self.store = PipelineRunStore(self.spark, self.layout)
        self.emit = self.on_event or ProgressPrinter(self.out)

    def run(self, name: str, options: RunOptions = RunOptions()) -> PipelineRun:
        """Take the pipeline's lock, plan the run (``--resume`` then sees a killed run released from a
        stale lock), run it, and return its record (status ``succeeded`` or ``failed``).

        Raises:
            PipelineLockedError: another run of the pipeline in this environment holds the lock.
            PipelineError: the run cannot be planned (see :func:`plan_run`).
        """
        settings = pipeline_settings(self.config, name)
        run_id = str(uuid.uuid4())
        self.lock = PipelineLock(
            lock_location(self.layout, name, self.config.env), settings.lock, self.spark, self._abandon
        )
        released = self.lock.acquire(run_id, name, self.config.env)
        if released is not None:
            self.emit(StaleLockReleased(released.pipeline_run_id, released.pid, released.host))
        try:
            plan = plan_run(self.config, name, options, self.store)
            landed = check_landed(
                self.spark, self.layout, name, plan.landed, plan.dates, plan.dates_chosen_by
            )
            executor = self.executor or (
                SessionExecutor(self.config, self.spark)
                if plan.mode == "session"
                else SubmitExecutor(self.config, self.spark)
            )
            start_services(settings.services, self.config, self.out)
            return self._run_locked(plan, settings, executor, run_id, landed)
        finally:
            self.lock.release()

    def _run_locked(
        self,
        plan: Plan,
        settings: PipelineSettings,
        executor: SessionExecutor | SubmitExecutor,
        run_id: str,
        landed: dict[dt.date, list[LandedFolder]],
    ) -> PipelineRun:
        clock = time.perf_counter()
        record = _new_record(plan, run_id)
        self.store.write_state(record)
        self.emit(RunStarted(plan, run_id, landed))
        failed_date: str | None = None
        try:
            for number, task in enumerate(plan.tasks, 1):
                if task.key in plan.done:
                    self.emit(TaskSkipped(task, plan.done[task.key]))
                    continue
                if failed_date is not None and task.logical_date.isoformat() > failed_date:
                    continue  # a later date waits until the failed one is fixed (--resume)
                upstream = [record.task((up, task.logical_date.isoformat())) for up in task.after]
                blocked = [up.task for up in upstream if up.status not in FINISHED_OK]
                if blocked:
                    record = record.with_task(
                        replace(
                            record.task(task.key),
                            status=UPSTREAM_FAILED,
                            error=f"waits for {', '.join(blocked)}",
                        )
                    )
                    self.emit(TaskBlocked(task, blocked))
                    continue
                self.lock.update(f"{shown(plan, task)} ({number}/{len(plan.tasks)})")
                self.emit(TaskRunning(task))
                done = self._attempts(settings, task, executor, run_id)
                record = record.with_task(done)
                if done.status == FAILED:
                    failed_date = failed_date or task.logical_date.isoformat()
                self.store.write_state(record)
        except BaseException as error:  # interrupted: record what finished, then stop
            record = replace(record, error=f"interrupted: {type(error).__name__}")
            self._finish(record, clock, FAILED)
            raise
        failed = [task.label for task in record.tasks if task.status not in FINISHED_OK]
        error = f"not succeeded: {', '.join(failed)}" if failed else None
        return self._finish(replace(record, error=error), clock, FAILED if failed else SUCCEEDED)

    def _attempts(
        self,
        settings: PipelineSettings,
        task: PlannedTask,
        executor: SessionExecutor | SubmitExecutor,
        pipeline_run_id: str,
    ) -> TaskRun:
        entry = TaskRun(
            task.task,
            task.job,
            task.logical_date.isoformat(),
            params=task.params,
            started_at=dt.datetime.now(dt.UTC),
        )
        clock = time.perf_counter()
        attempts = task.retries + 1
        for attempt in range(1, attempts + 1):
            job_run_id = str(uuid.uuid4())
            result = executor.run(task, job_run_id, pipeline_run_id)
            ids = [*entry.job_run_ids, job_run_id] if result.record is not None else entry.job_run_ids
            entry = replace(entry, attempts=attempt, job_run_ids=ids)
            if result.error is None and result.record is not None:
                elapsed = time.perf_counter() - clock
                rows = dict(result.record.rows_written)
                self.emit(TaskSucceeded(task, elapsed, attempt, rows))
                return replace(
                    entry,
                    status=SUCCEEDED,
                    ended_at=dt.datetime.now(dt.UTC),
                    duration_seconds=round(elapsed, 3),
                    rows_written=rows,
                    error=None,
                )
            message = scrub(result.error or "failed", self.config.secret_values())
            if attempt < attempts:
                wait = retry_delay(settings, task.retry_delay_seconds, attempt)
                self.emit(TaskRetrying(task, attempt, attempts, message, wait))
                self.sleep(wait)
            else:
                self.emit(TaskFailed(task, attempt, message))
                entry = replace(entry, error=message)
        return replace(
            entry,
            status=FAILED,
            ended_at=dt.datetime.now(dt.UTC),
            duration_seconds=round(time.perf_counter() - clock, 3),
        )

    def _finish(self, record: PipelineRun, clock: float, status: str) -> PipelineRun:
        record = replace(
            record,
            status=status,
            ended_at=dt.datetime.now(dt.UTC),
            duration_seconds=round(time.perf_counter() - clock, 3),
        )
        try:
            from lakehouse.pipelines import report

            self.facts = report.gather(self.spark, self.config, record)
            location = report.report_location(self.layout, record)
            record = replace(record, report=location)
            self.facts["run"] = record
            written = files.write_text(self.spark, location, report.render(self.facts))
            record = replace(record, report=str(written))
        except Exception:  # the run's outcome matters more than its report
            log.exception(
                "pipeline %s: could not write the report of run %s", record.pipeline, record.pipeline_run_id
            )
        self.store.save(record)
        return record

    def _abandon(self, owner: LockOwner) -> None:
        """Record the run of a stale lock as abandoned (its last state), so that ``--resume`` continues it."""
        state = self.store.read_state(owner.pipeline_run_id) if owner.pipeline_run_id != "unknown" else None
        if state is not None and state.status == RUNNING:
            ended = dt.datetime.fromisoformat(owner.heartbeat_at)
            self.store.save(
                replace(
                    state,
                    status=ABANDONED,
                    ended_at=ended,
                    duration_seconds=round((ended - state.started_at).total_seconds(), 3),
                    error=f"abandoned: its process {owner.pid} on {owner.host} stopped without finishing",
                )
            )


def _new_record(plan: Plan, run_id: str) -> PipelineRun:
    """The record of a run about to start: every planned task pending (or skipped, resumed)."""
    started = dt.datetime.now(dt.UTC)
    return PipelineRun(
        pipeline_run_id=run_id,
        pipeline=plan.pipeline,
        env=plan.env,
        status=RUNNING,
        mode=plan.mode,
        logical_dates=[date.isoformat() for date in plan.dates],
        options=plan.options,
        resumed_from=plan.resumed_from,
        started_at=started,
        ended_at=None,
        duration_seconds=None,
        tasks=[
            TaskRun(
                task.task,
                task.job,
                task.logical_date.isoformat(),
                status=SKIPPED if task.key in plan.done else PENDING,
                params=task.params,
            )
            for task in plan.tasks
        ],
        error=None,
        report=None,
        host=socket.gethostname(),
        lakehouse_version=__version__,
    )


def run_pipeline(
    config: LakehouseConfig,
    name: str,
    options: RunOptions = RunOptions(),
    spark: SparkSession | None = None,
    out: Output = print,
    sleep: Callable[[float], None] = time.sleep,
    summarize: bool = True,
    on_event: Callable[[Event], None] | None = None,
) -> PipelineRun:
    """Plan and run a pipeline (what ``lakehouse pipeline run`` does).

    Args:
        spark: the session to use; by default one is built (a local ``local[1]`` one for the records
            in submit mode) and stopped at the end.
        summarize: end with the stage timings, tables, quality, metrics and the report's path.
        on_event: listens to the run's events instead of the progress lines written to ``out``.
    """
    from lakehouse.spark.session import build_session

    settings = pipeline_settings(config, name)
    mode = resolve_mode(config, settings, options.mode)
    own = spark is None
    if spark is None:
        session_config = config if mode == "session" else bookkeeping_config(config)
        spark = build_session(session_config, app_name=f"lakehouse pipeline {name}")
    try:
        runner = PipelineRunner(config, spark, out=out, sleep=sleep, on_event=on_event)
        record = runner.run(name, options)
        if summarize:
            written = sorted(table for table in record.rows_written() if not table.startswith("ops."))
            out(summary(record, runner.facts, table_sizes(spark, config, written)))
        return record
    finally:
        if own:
            spark.stop()

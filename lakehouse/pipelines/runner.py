"""Run a pipeline: its tasks in dependency order for each logical date, with retries, a lock,
resume after a failure, and a record in ``ops.pipeline_runs``.

On a local master every job runs in this process's SparkSession, one after the other (the
session starts once); on a cluster each job is one ``spark-submit`` of its entry point, while this
process keeps the records with a small local session.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse import __version__
from lakehouse.config.model import LakehouseConfig, PipelineSettings
from lakehouse.display import duration
from lakehouse.errors import LakehouseError, PipelineError
from lakehouse.io import files
from lakehouse.log import scrub
from lakehouse.pipelines.cron import parse_cron
from lakehouse.pipelines.landed import LandedFolder, check_landed
from lakehouse.pipelines.lock import LockOwner, PipelineLock, lock_location
from lakehouse.pipelines.plan import (
    Plan,
    PlannedTask,
    build_plan,
    dates_chosen_by,
    logical_dates,
    retry_delay,
    select_tasks,
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
from lakehouse.pipelines.summary import summary, table_sizes
from lakehouse.runs.job import find_job, prepare_params
from lakehouse.runs.records import JobRun
from lakehouse.runs.runner import JobFailedError, read_job_runs, run_job
from lakehouse.spark.session import session_properties
from lakehouse.storage.layout import StorageLayout

log = logging.getLogger(__name__)
Output = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    """What ``lakehouse pipeline run`` was asked for."""

    date: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    catch_up: bool = False
    from_task: str | None = None
    only: tuple[str, ...] = ()
    resume: bool = False
    mode: str | None = None  # session or submit; None: the pipeline's

    def recorded(self) -> dict[str, str]:
        chosen = {
            "from": self.from_task or "",
            "only": ",".join(self.only),
            "resume": "true" if self.resume else "",
            "catch_up": "true" if self.catch_up else "",
        }
        return {key: value for key, value in chosen.items() if value}


@dataclass
class Attempt:
    """What one attempt at a task gave: the job run's record (None if none was made) and the error."""

    record: JobRun | None
    error: str | None = None


def pipeline_settings(config: LakehouseConfig, name: str) -> PipelineSettings:
    """The pipeline ``name`` of pipelines.yml.

    Raises:
        PipelineError: no such pipeline; lists the declared ones.
    """
    if name not in config.pipelines:
        known = ", ".join(config.pipelines) or "none"
        raise PipelineError(f"no pipeline {name!r} in pipelines.yml (env {config.env}); pipelines: {known}")
    return config.pipelines[name]


def resolve_mode(config: LakehouseConfig, settings: PipelineSettings, asked: str | None = None) -> str:
    """``session`` or ``submit``: ``auto`` is session on a local master (or a platform's session), submit
    on a cluster master."""
    mode = asked or settings.mode
    if mode != "auto":
        return mode
    master = config.spark.master
    return "session" if master is None or master.startswith("local") else "submit"


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


def plan_run(
    config: LakehouseConfig,
    name: str,
    options: RunOptions,
    store: PipelineRunStore | None = None,
    now: dt.datetime | None = None,
) -> Plan:
    """The plan of a run; ``--resume`` and ``--catch-up`` read earlier runs from ``store``.

    Raises:
        PipelineError: unknown pipeline or task, bad dates, nothing to resume, or a job parameter
            that its job does not take or whose value names something the configuration does not
            declare (named with its key in pipelines.yml).
    """
    settings = pipeline_settings(config, name)
    mode = resolve_mode(config, settings, options.mode)
    if options.resume:
        plan = _resume_plan(config, name, settings, mode, options, store)
    else:
        tasks = select_tasks(settings, name, options.from_task, options.only)
        if options.catch_up:
            if options.date or options.start or options.end:
                raise PipelineError("--catch-up chooses the dates itself: give no --date, --start or --end")
            dates = _catch_up_dates(config, name, settings, store, now)
            chosen_by = "--catch-up: the logical dates missed since the last successful run"
        else:
            dates = logical_dates(settings, options.date, options.start, options.end, now)
            explicit = options.date or options.start or options.end
            chosen_by = "" if explicit else dates_chosen_by(settings, now)
        recorded = options.recorded()
        plan = build_plan(
            settings, name, config.env, mode, dates, tasks, options=recorded, dates_chosen_by=chosen_by
        )
    for task in plan.tasks:
        job = find_job(task.job)
        try:
            prepare_params(job, config, task.job, task.params)
        except LakehouseError as error:
            raise PipelineError(f"pipelines.{name}.tasks.{task.task}: {error}") from None
    return plan


def _resume_plan(
    config: LakehouseConfig,
    name: str,
    settings: PipelineSettings,
    mode: str,
    options: RunOptions,
    store: PipelineRunStore | None,
) -> Plan:
    if options.from_task or options.only or options.date or options.start or options.catch_up:
        raise PipelineError("--resume repeats the failed run's dates and tasks: give no other option")
    previous = store.recent(name, config.env, limit=1) if store else []
    if not previous:
        raise PipelineError(f"pipeline {name} (env {config.env}) has no run to resume")
    last = previous[0]
    if last.status == SUCCEEDED:
        raise PipelineError(f"nothing to resume: the last run {last.pipeline_run_id} of {name} succeeded")
    tasks = [task for task in dict.fromkeys(task.task for task in last.tasks) if task in settings.tasks]
    dates = [dt.date.fromisoformat(date) for date in last.logical_dates]
    done = {
        task.key: f"{task.status} in run {last.pipeline_run_id[:8]}"
        for task in last.tasks
        if task.status in FINISHED_OK
    }
    options_recorded = {**last.options, "resume": "true"}
    return build_plan(
        settings, name, config.env, mode, dates, tasks, done, options_recorded, last.pipeline_run_id
    )


def _catch_up_dates(
    config: LakehouseConfig,
    name: str,
    settings: PipelineSettings,
    store: PipelineRunStore | None,
    now: dt.datetime | None,
) -> list[dt.date]:
    if settings.schedule is None:
        raise PipelineError(f"--catch-up needs a schedule: pipelines.{name}.schedule")
    schedule = parse_cron(settings.schedule)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
    latest_fire = schedule.latest(now)
    runs = store.recent(name, config.env, limit=50) if store else []
    done = [
        dt.date.fromisoformat(date) for run in runs if run.status == SUCCEEDED for date in run.logical_dates
    ]
    if not done:
        return [schedule.logical_date(latest_fire)]
    due = schedule.logical_dates_between(max(done), latest_fire)
    return due[-settings.max_catch_up :]


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


@dataclass
class PipelineRunner:
    """Runs one plan: lock, records, retries, progress lines, and the end summary.

    Args:
        config: the environment.
        spark: the session that keeps the records (and, in session mode, runs the jobs).
        out: where progress lines go (``print`` by default).
        sleep: waits between retries (tests pass a recorder).
        executor: runs one attempt of a task; by default the plan's mode decides.
    """

    config: LakehouseConfig
    spark: SparkSession
    out: Output = print
    sleep: Callable[[float], None] = time.sleep
    executor: SessionExecutor | SubmitExecutor | None = None
    lock: PipelineLock | None = field(default=None, init=False)
    facts: dict | None = field(default=None, init=False)  # the last run's report facts

    def __post_init__(self) -> None:
        self.layout = StorageLayout.from_config(self.config)
        self.store = PipelineRunStore(self.spark, self.layout)

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
            self.out(
                f"released the stale lock of run {released.pipeline_run_id} "
                f"(pid {released.pid} on {released.host})"
            )
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
            if settings.local_database:
                _start_local_database(self.config, self.out)
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
        started = dt.datetime.now(dt.UTC)
        clock = time.perf_counter()
        record = PipelineRun(
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
        self.store.write_state(record)
        dates = ", ".join(record.logical_dates)
        self.out(
            f"pipeline {plan.pipeline} (env {plan.env}, {plan.mode} mode): run {run_id}, "
            f"{len(plan.tasks)} task runs, logical date{'s' if len(plan.dates) > 1 else ''} {dates}"
            + (f" ({plan.dates_chosen_by})" if plan.dates_chosen_by else "")
            + (f", resuming {plan.resumed_from}" if plan.resumed_from else "")
        )
        for date, folders in list(landed.items())[:3]:
            self.out(f"data landed for {date}: {', '.join(folder.describe() for folder in folders)}")
        if len(landed) > 3:
            self.out(f"... and for {len(landed) - 3} more dates, every folder of {', '.join(plan.landed)}")
        failed_date: str | None = None

        def shown(task: PlannedTask) -> str:  # the date only when the run covers several
            return task.label if len(plan.dates) > 1 else task.task

        width = max(len(shown(task)) for task in plan.tasks)
        try:
            for number, task in enumerate(plan.tasks, 1):
                prefix = f"[{number:>{len(str(len(plan.tasks)))}}/{len(plan.tasks)}] {shown(task):<{width}}"
                if task.key in plan.done:
                    self.out(f"{prefix}  skipped ({plan.done[task.key]})")
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
                    self.out(f"{prefix}  not run: {', '.join(blocked)} failed")
                    continue
                self.lock.update(f"{shown(task)} ({number}/{len(plan.tasks)})")
                self.out(f"{prefix}  running")
                done = self._attempts(plan, settings, task, executor, run_id, prefix)
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
        plan: Plan,
        settings: PipelineSettings,
        task: PlannedTask,
        executor: SessionExecutor | SubmitExecutor,
        pipeline_run_id: str,
        prefix: str,
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
                written = ", ".join(f"{table} {count}" for table, count in sorted(rows.items())) or "no rows"
                self.out(
                    f"{prefix}  succeeded in {duration(elapsed)}"
                    f"{f' (attempt {attempt})' if attempt > 1 else ''}; {written}"
                )
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
                self.out(
                    f"{prefix}  attempt {attempt}/{attempts} failed: {_short(message)}; "
                    f"retrying in {wait:.0f} s"
                )
                self.sleep(wait)
            else:
                self.out(
                    f"{prefix}  FAILED after {attempt} attempt{'s' if attempt > 1 else ''}: {_short(message)}"
                )
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


def _start_local_database(config: LakehouseConfig, out: Output) -> None:
    from lakehouse.demo.postgres import local_server

    server = local_server(config)
    server.start()
    out(f"PostgreSQL up: {server.jdbc_url} (data {server.data_dir})")


def _short(message: str, limit: int = 300) -> str:
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def run_pipeline(
    config: LakehouseConfig,
    name: str,
    options: RunOptions = RunOptions(),
    spark: SparkSession | None = None,
    out: Output = print,
    sleep: Callable[[float], None] = time.sleep,
    summarize: bool = True,
) -> PipelineRun:
    """Plan and run a pipeline (what ``lakehouse pipeline run`` does).

    Args:
        spark: the session to use; by default one is built (a local ``local[1]`` one for the records
            in submit mode) and stopped at the end.
        summarize: end with the stage timings, tables, quality, metrics and the report's path.
    """
    from lakehouse.spark.session import build_session

    settings = pipeline_settings(config, name)
    mode = resolve_mode(config, settings, options.mode)
    own = spark is None
    if spark is None:
        session_config = config if mode == "session" else bookkeeping_config(config)
        spark = build_session(session_config, app_name=f"lakehouse pipeline {name}")
    try:
        runner = PipelineRunner(config, spark, out=out, sleep=sleep)
        record = runner.run(name, options)
        if summarize:
            written = sorted(table for table in record.rows_written() if not table.startswith("ops."))
            out(summary(record, runner.facts, table_sizes(spark, config, written)))
        return record
    finally:
        if own:
            spark.stop()

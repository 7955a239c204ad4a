"""Run one job: build its parameters and session, run it, record the run in ``ops.job_runs``."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse import __version__
from lakehouse.config import JobSettings, LakehouseConfig, load_config
from lakehouse.errors import JobParameterError, LakehouseError, TableBusyError, first_line
from lakehouse.io import files
from lakehouse.io.delta_store import DeltaStore, bookkeeping_store
from lakehouse.log import configure_logging, scrub
from lakehouse.runs.context import JobContext
from lakehouse.runs.guard import RunGuard, record_abandoned
from lakehouse.runs.job import find_job, params_as_strings, prepare_params
from lakehouse.runs.records import FAILED, JOB_RUNS_SPEC, JOB_RUNS_TABLE, SUCCEEDED, JobRun, RunningJob
from lakehouse.spark.session import build_session
from lakehouse.storage.layout import StorageLayout

log = logging.getLogger(__name__)


class JobFailedError(LakehouseError):
    """A job raised; the run was recorded as failed. ``run`` is the record, ``__cause__`` the error."""

    def __init__(self, run: JobRun):
        self.run = run
        super().__init__(f"job {run.job} failed (run {run.run_id}): {run.error_class}: {run.error_message}")


def run_job(
    name: str,
    config: LakehouseConfig,
    params: Mapping[str, str] | None = None,
    spark: SparkSession | None = None,
    run_id: str | None = None,
    pipeline_run_id: str | None = None,
) -> JobRun:
    """Run one job and record it in ``ops.job_runs``.

    Args:
        name: the registered job name.
        config: the environment's configuration.
        params: ``--param`` overrides (strings) of the job's configured parameters.
        spark: a session to reuse (a pipeline shares one); built from ``config`` when None.
        run_id: the run's id (a pipeline chooses it, to link the run); a new uuid4 when None.
        pipeline_run_id: the pipeline run this job run belongs to, recorded with it.

    Before the job's work, runs of any job killed earlier are recorded as ``abandoned``, this
    run's state file is written, and the tables the job writes exclusively (:meth:`Job.exclusive`)
    are locked; after it, the locks are released, the run's row appended and its state removed.

    Returns:
        The recorded run (status ``succeeded``).

    Raises:
        JobNotFoundError, JobParameterError: before Spark starts, and before anything runs or is
            recorded (an unknown parameter, a bad value, a name the configuration does not declare).
        JobFailedError: the job raised; the failure is recorded, the cause is chained (a
            ``TableBusyError`` when another run writes one of its tables).
    """
    job_class = find_job(name)
    job_params = prepare_params(job_class, config, name, params or {})
    spark = spark or build_session(config, app_name=f"lakehouse {name}")
    context = make_context(name, config, spark, job_params, run_id)
    context.pipeline_run_id = pipeline_run_id
    run_id, layout, rows_written = context.run_id, context.layout, context.rows_written
    log.info("job %s: run %s started on %s (env %s)", name, run_id, spark.sparkContext.master, config.env)
    guard = start_guard(name, config, spark, context, job_params)
    started_at = dt.datetime.fromisoformat(guard.state.owner.started_at)
    clock = time.perf_counter()
    failure: BaseException | None = None
    try:
        guard.lock(job_class.exclusive(config, job_params))
        job_class().run(context)
    except Exception as error:
        failure = error
    finally:
        guard.unlock()
    seconds = time.perf_counter() - clock
    record = _run_record(name, config, spark, context, job_params, started_at, seconds, failure)
    _record(record, spark, layout, guard, failure)
    if failure is not None:
        raise JobFailedError(record) from failure
    log.info(
        "job %s: run %s succeeded in %.1f s; rows written: %s",
        name, run_id, record.duration_seconds, rows_written or "none",
    )  # fmt: skip
    return record


def _record(
    record: JobRun, spark: SparkSession, layout: StorageLayout, guard: RunGuard, failure: BaseException | None
) -> None:
    """Append the run's row and remove its state; when the row cannot be written, keep the state
    (once this process is gone, the next job run records the run abandoned)."""
    try:
        record_run(spark, layout, record)
    except Exception:
        guard.finish(keep_state=True)
        log.exception("job %s: could not record run %s in %s", record.job, record.run_id, JOB_RUNS_TABLE)
        if failure is None:
            raise
    else:
        guard.finish()


def _run_record(
    name: str,
    config: LakehouseConfig,
    spark: SparkSession,
    context: JobContext,
    job_params: Any,
    started_at: dt.datetime,
    seconds: float,
    failure: BaseException | None,
) -> JobRun:
    """The ``ops.job_runs`` row of a finished run (the error's message scrubbed of secrets)."""
    return JobRun(
        run_id=context.run_id,
        job=name,
        env=config.env,
        params=params_as_strings(job_params),
        status=FAILED if failure else SUCCEEDED,
        started_at=started_at,
        ended_at=dt.datetime.now(dt.UTC),
        duration_seconds=round(seconds, 3),
        rows_written=dict(context.rows_written),
        error_class=type(failure).__name__ if failure else None,
        error_message=scrub(str(failure), config.secret_values()) if failure else None,
        spark_master=spark.sparkContext.master,
        spark_app_id=spark.sparkContext.applicationId,
        lakehouse_version=__version__,
        host=socket.gethostname(),
        pipeline_run_id=context.pipeline_run_id,
        tables_read=dict(context.tables_read),
        metrics=dict(context.metrics),
        outputs=dict(context.outputs),
    )


def start_guard(
    name: str, config: LakehouseConfig, spark: SparkSession, context: JobContext, params: Any
) -> RunGuard:
    """Record the runs that died earlier as abandoned, then write this run's state file.

    Returns:
        The run's guard: it locks the job's tables, and removes the state once the run is recorded.
    """
    settings = config.runs
    try:
        record_abandoned(spark, context.layout, settings)
    except Exception:  # bookkeeping of other runs never stops this one
        log.warning("job %s: could not record the runs that died earlier", name, exc_info=True)
    wait = config.jobs.get(name, JobSettings()).lock_wait_seconds
    guard = RunGuard(spark, context.layout, settings, settings.lock_wait_seconds if wait is None else wait)
    now = dt.datetime.now(dt.UTC).isoformat()
    guard.start(
        RunningJob(
            run_id=context.run_id,
            job=name,
            env=config.env,
            params=params_as_strings(params),
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=now,
            heartbeat_at=now,
            spark_master=spark.sparkContext.master,
            spark_app_id=spark.sparkContext.applicationId,
            lakehouse_version=__version__,
            pipeline_run_id=context.pipeline_run_id,
        )
    )
    return guard


def make_context(
    name: str, config: LakehouseConfig, spark: SparkSession, params: Any, run_id: str | None = None
) -> JobContext:
    """The context a job runs with: a store tagging commits with the run, counting rows written."""
    layout = StorageLayout.from_config(config)
    run_id = run_id or str(uuid.uuid4())
    rows_written: dict[str, int] = {}
    tables_read: dict[str, int] = {}

    def count_rows(table: str, rows: int) -> None:
        rows_written[table] = rows_written.get(table, 0) + rows

    def note_read(table: str, version: int) -> None:
        tables_read[table] = max(version, tables_read.get(table, -1))

    return JobContext(
        spark=spark,
        config=config,
        layout=layout,
        tables=DeltaStore(
            spark, layout, {"run_id": run_id, "job": name}, on_write=count_rows, on_read=note_read
        ),
        params=params,
        run_id=run_id,
        job=name,
        log=logging.getLogger(f"lakehouse.jobs.{name}"),
        rows_written=rows_written,
        tables_read=tables_read,
    )


def record_run(spark: SparkSession, layout: StorageLayout, run: JobRun) -> None:
    """Append one run's row to ``ops.job_runs``."""
    store = bookkeeping_store(spark, layout, "job_runs", run.run_id, run.job)
    store.append(JOB_RUNS_TABLE, run.to_frame(spark), spec=JOB_RUNS_SPEC)


def read_job_runs(spark: SparkSession, config: LakehouseConfig, run_ids: Sequence[str]) -> dict[str, JobRun]:
    """The ``ops.job_runs`` records of the given run ids (those recorded so far), by run id."""
    store = DeltaStore(spark, StorageLayout.from_config(config))
    if not run_ids or not store.exists(JOB_RUNS_TABLE):
        return {}
    rows = store.read(JOB_RUNS_TABLE).where(F.col("run_id").isin(list(run_ids))).collect()
    return {row["run_id"]: JobRun.from_row(row) for row in rows}


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """Turn ``["rows=10", "table=bronze.x"]`` into a dict.

    Raises:
        JobParameterError: an item is not ``key=value``.
    """
    params = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise JobParameterError(f"--param {pair!r}: expected key=value")
        params[key.strip()] = value
    return params


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``lakehouse run`` and every ``jobs/<name>.py``."""
    parser.add_argument("--env", help="configuration environment (default: $LAKEHOUSE_ENV or local)")
    parser.add_argument(
        "--project", help="the project folder (default: $LAKEHOUSE_PROJECT or the current folder)"
    )
    parser.add_argument("--conf-dir", help="configuration folder (default: $LAKEHOUSE_CONF_DIR or ./conf)")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="job parameter (repeatable)"
    )
    parser.add_argument("--start", metavar="YYYY-MM-DD", help="= --param start=... (backfill from)")
    parser.add_argument("--end", metavar="YYYY-MM-DD", help="= --param end=... (backfill to)")
    parser.add_argument("--run-id", help="the run's id (default: a new uuid; a pipeline passes its own)")
    parser.add_argument("--pipeline-run-id", help="the pipeline run this job run belongs to")


def param_pairs(args: argparse.Namespace) -> list[str]:
    """The ``key=value`` parameters of parsed run arguments: ``--param`` and the ``--start``/``--end``
    shorthands."""
    dates = [f"{key}={value}" for key, value in (("start", args.start), ("end", args.end)) if value]
    return [*args.param, *dates]


def execute(
    name: str,
    env: str | None,
    conf_dir: str | None,
    pairs: Sequence[str],
    run_id: str | None = None,
    pipeline_run_id: str | None = None,
    project: str | None = None,
) -> int:
    """Run a job from the command line; print the outcome and return the process exit code.

    ``project`` (``--project``) or ``conf_dir`` (``--conf-dir``) names the project; see
    :func:`lakehouse.config.loader.find_conf_dir`.
    """
    spark = None
    config = None
    try:
        config = load_config(env, conf_dir, project=project)
        params = parse_params(pairs)
        # refuse an unknown job or a bad parameter before paying for a Spark start
        prepare_params(find_job(name), config, name, params)
        spark = build_session(config, app_name=f"lakehouse {name}")
        record = run_job(name, config, params, spark, run_id, pipeline_run_id)
    except JobFailedError as error:
        cause = error.__cause__
        if isinstance(cause, LakehouseError):  # a message written for the user: shown whole
            print(f"FAILED {error}", file=sys.stderr)
        else:  # an engine's error: its first line here, the whole trace in a file
            trace = _write_trace(spark, config, name, error.run.run_id, cause)
            print(
                f"FAILED job {name} (run {error.run.run_id}): {type(cause).__name__}: "
                f"{first_line(str(cause))}; the full trace: {trace}",
                file=sys.stderr,
            )
        return 75 if isinstance(cause, TableBusyError) else 1  # 75: busy, try again later
    except LakehouseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # e.g. the session did not start: one line, the trace in a file
        trace = _write_trace(spark, config, name, run_id or "no-run", error)
        print(
            f"error: job {name}: {type(error).__name__}: {first_line(str(error))}; the full trace: {trace}",
            file=sys.stderr,
        )
        return 1
    finally:
        if spark is not None:
            spark.stop()
    layout = StorageLayout.from_config(config)
    print(f"job {name} succeeded: run {record.run_id}, {record.duration_seconds:.1f} s")
    for table, rows in sorted(record.rows_written.items()):
        print(f"  {table}: {rows} rows -> {layout.table(table).location}")
    return 0


def _write_trace(
    spark: SparkSession | None, config: LakehouseConfig | None, name: str, run_id: str, error: BaseException
) -> str:
    """Write an error's whole traceback (Python and JVM) to ``<files>/logs/jobs/<job>/<run>.log``
    (a temporary file without a configuration); return where."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(error))
    if config is not None:
        text = scrub(text, config.secret_values())
        location = StorageLayout.from_config(config).files_location("logs", "jobs", name, f"{run_id}.log")
        try:
            return str(files.write_text(spark, location, text))
        except Exception:  # the trace must not hide the failure: fall back to a local file
            log.debug("could not write %s", location, exc_info=True)
    with tempfile.NamedTemporaryFile("w", prefix=f"lakehouse-{name}-", suffix=".log", delete=False) as handle:
        handle.write(text)
    return handle.name


def main(name: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jobs/<name>.py``: ``spark-submit jobs/<name>.py --env local --param k=v``."""
    configure_logging()
    parser = argparse.ArgumentParser(prog=f"jobs/{name}.py", description=f"Run the lakehouse job {name}.")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    return execute(
        name, args.env, args.conf_dir, param_pairs(args), args.run_id, args.pipeline_run_id, args.project
    )

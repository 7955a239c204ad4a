"""Runs killed half way are recorded as abandoned; a table is written by one run at a time.

In-process tests hold a table with a :class:`RunGuard` of their own; the slow ones run jobs as
real processes (``lakehouse run``) and kill them with SIGKILL.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from lakehouse.config.platform import JobSettings, RunSettings
from lakehouse.errors import TableBusyError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.quality.records import RESULTS_TABLE, record_results
from lakehouse.quality.report import latest_validations, run_summaries
from lakehouse.quality.validation import ExpectationResult
from lakehouse.runs.guard import (
    RunGuard,
    TableLockOwner,
    record_abandoned,
    state_location,
    table_lock_location,
)
from lakehouse.runs.records import JOB_RUNS_TABLE, RunningJob
from lakehouse.runs.runner import JobFailedError, run_job
from lakehouse.storage.layout import StorageLayout
from tests.conftest import CONF_DIR, PROJECT_DIR

HOLD = "tests.runs.jobs:HoldJob"
LAKEHOUSE = str(Path(sys.executable).with_name("lakehouse"))


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def running(run_id: str, pid: int, host: str | None = None, at: dt.datetime | None = None, **more):
    stamp = (at or dt.datetime.now(dt.UTC)).isoformat()
    return RunningJob(
        run_id,
        "hold",
        "local",
        {"table": "bronze.held"},
        host or socket.gethostname(),
        pid,
        stamp,
        stamp,
        **more,
    )


def write_lock(layout, run_id: str, pid: int, stamp: str) -> Path:
    """A lock of bronze.held as the run ``run_id`` left it."""
    location = Path(table_lock_location(layout, "bronze.held"))
    location.parent.mkdir(parents=True, exist_ok=True)
    owner = TableLockOwner("bronze.held", "hold", run_id, "local", socket.gethostname(), pid, stamp, stamp)
    location.write_text(json.dumps(asdict(owner)))
    return location


def job_runs(spark, config):
    return DeltaStore(spark, StorageLayout.from_config(config)).read(JOB_RUNS_TABLE)


def with_runs(config, **settings):
    return config.model_copy(update={"runs": RunSettings(**settings)})


@pytest.fixture
def holder(lakehouse_session, lakehouse_config):
    """A run of this process holding ``bronze.held``, as a concurrent ingest would."""
    guard = RunGuard(lakehouse_session, StorageLayout.from_config(lakehouse_config), lakehouse_config.runs)
    guard.start(running("the-holder", os.getpid()))
    guard.lock(["bronze.held"])
    yield guard
    guard.finish()


def test_a_second_run_of_a_busy_table_fails_at_once_naming_the_holder(
    lakehouse_session, lakehouse_config, holder
):
    spark, config = lakehouse_session, lakehouse_config
    with pytest.raises(JobFailedError) as raised:
        run_job(HOLD, config, {}, spark)

    busy = raised.value.__cause__
    assert isinstance(busy, TableBusyError) and busy.target == "bronze.held"
    message = str(busy)
    assert "\n" not in message
    assert (
        f"bronze.held is being written by job hold (run the-holder, pid {os.getpid()} on "
        f"{socket.gethostname()}, since " in message
    )
    assert f"jobs.{HOLD}.lock_wait_seconds" in message
    row = job_runs(spark, config).where(f"run_id = '{raised.value.run.run_id}'").first()
    assert (row.status, row.error_class) == ("failed", "TableBusyError")
    layout = StorageLayout.from_config(config)
    assert not DeltaStore(spark, layout).exists("bronze.held")  # nothing written
    # the refused run left nothing behind: the holder's lock, no state file of its own
    assert json.loads(Path(table_lock_location(layout, "bronze.held")).read_text())["run_id"] == "the-holder"
    assert not Path(state_location(layout, raised.value.run.run_id)).exists()

    holder.finish()
    assert run_job(HOLD, config, {}, spark).succeeded  # free again
    assert not Path(table_lock_location(layout, "bronze.held")).exists()


def test_with_a_wait_a_run_takes_the_table_once_it_is_free(lakehouse_session, lakehouse_config, holder):
    spark = lakehouse_session
    config = with_runs(lakehouse_config, lock_wait_seconds=60)
    threading.Timer(1.5, holder.finish).start()

    record = run_job(HOLD, config, {}, spark)

    assert record.succeeded and record.duration_seconds >= 1.0
    assert spark.table("bronze.held").count() == 3


def test_a_job_s_own_wait_overrides_the_default(lakehouse_session, lakehouse_config, holder):
    config = with_runs(lakehouse_config, lock_wait_seconds=60)
    config = config.model_copy(update={"jobs": {HOLD: JobSettings(lock_wait_seconds=0)}})
    began = time.monotonic()
    with pytest.raises(JobFailedError, match="TableBusyError"):
        run_job(HOLD, config, {}, lakehouse_session)
    assert time.monotonic() - began < 30


def test_the_lock_of_a_dead_run_is_taken_over_with_a_warning(lakehouse_session, lakehouse_config, caplog):
    layout = StorageLayout.from_config(lakehouse_config)
    location = write_lock(layout, "dead-run", dead_pid(), dt.datetime.now(dt.UTC).isoformat())

    with caplog.at_level(logging.WARNING, logger="lakehouse.runs.guard"):
        assert run_job(HOLD, lakehouse_config, {}, lakehouse_session).succeeded

    assert "bronze.held: took over the lock of run dead-run (job hold" in caplog.text
    assert not location.exists()


def quality_result(table: str = "bronze.held") -> ExpectationResult:
    return ExpectationResult(table, "id not null", "not_null", "warn", True, 3, 0, 0.0)


def test_a_dead_run_is_recorded_abandoned_once_and_its_quality_results_left_out(
    lakehouse_session, lakehouse_config
):
    spark, config = lakehouse_session, lakehouse_config
    layout = StorageLayout.from_config(config)
    record_results(spark, layout, [quality_result()], "finished-run", "hold")
    record_results(spark, layout, [quality_result()], "killed-run", "hold")  # the later validation
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    killed = running("killed-run", dead_pid(), at=started, exclusive=["bronze.held"])
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    elsewhere_dead = running("silent-run", 1, host="other-host", at=old)
    elsewhere_alive = running("remote-run", 1, host="other-host")
    for state in (killed, elsewhere_dead, elsewhere_alive):
        Path(state_location(layout, state.run_id)).parent.mkdir(parents=True, exist_ok=True)
        Path(state_location(layout, state.run_id)).write_text(json.dumps(asdict(state)))
    lock = write_lock(layout, "killed-run", killed.pid, killed.started_at)

    recorded = record_abandoned(spark, layout, config.runs)

    assert sorted(run.run_id for run in recorded) == ["killed-run", "silent-run"]
    rows = {row.run_id: row for row in job_runs(spark, config).collect()}
    assert set(rows) == {"killed-run", "silent-run"}  # the live remote run goes on
    row = rows["killed-run"]
    assert (row.status, row.job, row.error_class) == ("abandoned", "hold", "Abandoned")
    assert f"its process {killed.pid} on {socket.gethostname()} stopped before the run finished" in (
        row.error_message
    )
    assert "last heartbeat was" in rows["silent-run"].error_message
    assert not Path(state_location(layout, "killed-run")).exists() and not lock.exists()
    assert Path(state_location(layout, "remote-run")).exists()
    results = DeltaStore(spark, layout).read(RESULTS_TABLE)
    assert {r.run_id: r.run_abandoned for r in results.collect()} == {
        "finished-run": False,
        "killed-run": True,
    }
    assert [r.run_id for r in latest_validations(results).collect()] == ["finished-run"]
    assert [r.run_id for r in run_summaries(results).collect()] == ["finished-run"]

    # a later sweep (a state file left again, as by a sweep killed before it removed it) adds nothing
    Path(state_location(layout, "killed-run")).write_text(json.dumps(asdict(killed)))
    assert record_abandoned(spark, layout, config.runs) == []
    assert job_runs(spark, config).where("run_id = 'killed-run'").count() == 1


STARTED: list[subprocess.Popen] = []


def start_job(env: dict[str, str], *params: str) -> subprocess.Popen:
    command = [LAKEHOUSE, "run", HOLD, "--env", "local"]
    for param in params:
        command += ["--param", param]
    # its own process group: the kill takes the Spark JVM down with it, as a machine crash would
    process = subprocess.Popen(
        command, cwd=PROJECT_DIR, env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    STARTED.append(process)
    return process


def wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the job ended before {what}:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def process_env(lakehouse_config):
    """The environment of a job process on this test's lakehouse; the processes a test started and
    left running (it failed) are killed after it."""
    yield {
        **os.environ,
        "LAKEHOUSE_ROOT": lakehouse_config.storage.root,
        "LAKEHOUSE_SPARK_MASTER": "local[1]",
        "PYTHONPATH": str(PROJECT_DIR),  # the test jobs
    }
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


@pytest.mark.slow
def test_a_job_killed_with_sigkill_is_recorded_abandoned_by_the_next_run_exactly_once(
    lakehouse_session, lakehouse_config, process_env, tmp_path
):
    spark, config = lakehouse_session, lakehouse_config
    layout = StorageLayout.from_config(config)
    started = tmp_path / "started"
    victim = start_job(process_env, f"started={started}", f"release={tmp_path / 'never'}")
    wait_for(started.exists, victim, "it held its table")
    killed_run = started.read_text()
    assert Path(state_location(layout, killed_run)).exists()
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL

    # any job's next run records it; this one also takes the table the killed run held
    assert run_job(HOLD, config, {}, spark).succeeded
    assert run_job("hello", config, {"rows": "2"}, spark).succeeded

    killed = job_runs(spark, config).where(f"run_id = '{killed_run}'").collect()
    assert len(killed) == 1
    assert (killed[0].status, killed[0].job) == ("abandoned", HOLD)
    assert f"its process {victim.pid} on {socket.gethostname()} stopped" in killed[0].error_message
    assert killed[0].ended_at >= killed[0].started_at
    results = DeltaStore(spark, layout).read(RESULTS_TABLE)
    marked = {r.run_id: r.run_abandoned for r in results.collect()}
    assert marked[killed_run] is True and list(marked.values()).count(False) == 1
    assert killed_run not in {r.run_id for r in latest_validations(results).collect()}
    assert not any(Path(layout.files_location("jobs", "runs")).iterdir())
    statuses = sorted(tuple(r) for r in job_runs(spark, config).groupBy("status").count().collect())
    assert statuses == [("abandoned", 1), ("succeeded", 2)]


@pytest.mark.slow
def test_two_processes_on_one_table_the_second_fails_naming_the_holder_or_waits(
    lakehouse_config, process_env, tmp_path
):
    layout = StorageLayout.from_config(lakehouse_config)
    started, release = tmp_path / "started", tmp_path / "release"
    first = start_job(process_env, f"started={started}", f"release={release}")
    wait_for(started.exists, first, "the first run held its table")
    first_run = started.read_text()
    # the same job again, at once: refused; and a run configured to wait
    conf = tmp_path / "project" / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf.parent / "jars").symlink_to(PROJECT_DIR / "jars")
    (conf / "local" / "runs.yml").write_text("runs:\n  lock_wait_seconds: 300\n")
    second = start_job(process_env)
    waiting = start_job({**process_env, "LAKEHOUSE_CONF_DIR": str(conf)})

    output = second.communicate(timeout=300)[0]
    assert second.returncode == 75, output
    assert (
        f"TableBusyError: bronze.held is being written by job {HOLD} (run {first_run}, pid {first.pid} "
        f"on {socket.gethostname()}, since " in output
    )
    states = Path(layout.files_location("jobs", "runs"))
    wait_for(lambda: len(list(states.iterdir())) == 2, waiting, "the waiting run started")  # first + waiting
    release.write_text("")
    assert first.wait(timeout=120) == 0, first.stdout.read()
    output = waiting.communicate(timeout=300)[0]
    assert waiting.returncode == 0, output
    assert "job tests.runs.jobs:HoldJob succeeded" in output

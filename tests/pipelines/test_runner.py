"""Running pipelines for real (Spark, Delta, ops tables): order, selection, retries, resume, backfill,
locks and the report."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from lakehouse.config.pipelines import PipelineSettings
from lakehouse.errors import PipelineError, PipelineLockedError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.pipelines.lock import LockOwner, PipelineLock, lock_location
from lakehouse.pipelines.records import PIPELINE_RUNS_TABLE, RUNNING, PipelineRun, PipelineRunStore
from lakehouse.pipelines.runner import RunOptions, plan_run, run_pipeline
from lakehouse.runs.records import JOB_RUNS_TABLE
from lakehouse.runs.runner import read_job_runs
from lakehouse.storage.layout import StorageLayout

JOBS = "tests.pipelines.jobs"
DAY = dt.date(2026, 1, 5)


def with_pipelines(config, **pipelines):
    settings = {name: PipelineSettings.model_validate(value) for name, value in pipelines.items()}
    return config.model_copy(update={"pipelines": settings})


def daily_pipeline(**extra):
    return {
        "retries": 0,
        "tasks": {
            "first": {"job": f"{JOBS}:DailyNumbersJob", "params": {"date": "{date}", "rows": 2}},
            "second": {
                "job": f"{JOBS}:DailyNumbersJob",
                "params": {"date": "{date}", "rows": 4},
                "after": ["first"],
            },
        },
        **extra,
    }


def diamond(tmp_path: Path, retries: int = 0) -> dict:
    """land -> (flaky | gate) -> last, plus an independent task."""
    return {
        "retries": retries,
        "retry_delay_seconds": 7,
        "tasks": {
            "land": {"job": "hello", "params": {"rows": 10}},
            "flaky": {
                "job": f"{JOBS}:FlakyJob",
                "params": {"flag": str(tmp_path / "flaky.flag"), "table": "bronze.flaky"},
                "after": ["land"],
            },
            "gate": {
                "job": f"{JOBS}:FailsUntilFlagJob",
                "params": {"flag": str(tmp_path / "gate.flag"), "table": "bronze.gate"},
                "after": ["land"],
                "retries": 0,
            },
            "last": {"job": "hello", "params": {"rows": 3, "table": "gold.last"}, "after": ["flaky", "gate"]},
            "alone": {"job": "hello", "params": {"rows": 1, "table": "gold.alone"}},
        },
    }


def run(config, spark, name, options=None, waits=None, lines=None):
    return run_pipeline(
        config,
        name,
        options or RunOptions(date=DAY),
        spark=spark,
        out=(lines if lines is not None else []).append,
        sleep=(waits if waits is not None else []).append,
        summarize=lines is not None,
    )


def statuses(record: PipelineRun) -> dict[str, str]:
    return {task.task: task.status for task in record.tasks}


def test_tasks_run_in_dependency_order_and_are_recorded_with_their_job_runs(
    lakehouse_session, lakehouse_config, tmp_path
):
    (tmp_path / "gate.flag").write_text("open")
    config = with_pipelines(lakehouse_config, diamond=diamond(tmp_path, retries=1))
    waits, lines = [], []
    record = run(config, lakehouse_session, "diamond", waits=waits, lines=lines)

    assert record.status == "succeeded"
    assert [task.task for task in record.tasks] == ["land", "flaky", "gate", "last", "alone"]
    timed = {task.task: task for task in record.tasks}
    for task, upstream in config.pipelines["diamond"].edges().items():
        for up in upstream:
            assert timed[up].ended_at <= timed[task].started_at, f"{task} started before {up} ended"
    # retry then success: the flaky task failed once, waited the configured delay, then succeeded
    assert timed["flaky"].attempts == 2 and len(timed["flaky"].job_run_ids) == 2
    assert waits == [7]
    records = read_job_runs(lakehouse_session, config, record.job_run_ids())
    assert [records[i].status for i in timed["flaky"].job_run_ids] == ["failed", "succeeded"]
    assert all(r.pipeline_run_id == record.pipeline_run_id for r in records.values())
    assert timed["land"].rows_written == {"bronze.hello": 10}
    assert records[timed["flaky"].job_run_ids[-1]].tables_read == {} and timed["last"].rows_written == {
        "gold.last": 3
    }

    stored = PipelineRunStore(lakehouse_session, StorageLayout.from_config(config)).get(
        record.pipeline_run_id
    )
    assert stored == record
    text = "\n".join(lines)
    assert "stage timings" in text and "flaky" in text and "retrying in 7 s" in text and "report:" in text
    page = Path(record.report).read_text()
    assert "<svg" in page and "gold.last" in page and "Lineage" in page and "Timeline" in page


def test_failure_stops_dependents_then_resume_reruns_only_what_did_not_succeed(
    lakehouse_session, lakehouse_config, tmp_path
):
    config = with_pipelines(lakehouse_config, diamond=diamond(tmp_path, retries=1))
    told = []  # the run's events, as an orchestrator listening instead of the progress lines sees them
    first = run_pipeline(
        config, "diamond", RunOptions(date=DAY), lakehouse_session, sleep=[].append, summarize=False,
        on_event=told.append,
    )  # fmt: skip
    assert [(type(event).__name__, getattr(event, "task", None) and event.task.task) for event in told] == [
        ("RunStarted", None),
        ("TaskRunning", "land"),
        ("TaskSucceeded", "land"),
        ("TaskRunning", "flaky"),
        ("TaskRetrying", "flaky"),
        ("TaskSucceeded", "flaky"),
        ("TaskRunning", "gate"),
        ("TaskFailed", "gate"),
        ("TaskBlocked", "last"),
        ("TaskRunning", "alone"),
        ("TaskSucceeded", "alone"),
    ]
    assert told[-4].attempts == 1 and "flag" in told[-4].error and told[-3].failed_upstream == ["gate"]
    assert first.status == "failed"
    assert statuses(first) == {
        "land": "succeeded",
        "flaky": "succeeded",
        "gate": "failed",
        "last": "upstream_failed",
        "alone": "succeeded",
    }
    assert "flag" in first.task(("gate", DAY.isoformat())).error
    with pytest.raises(PipelineError, match="no task"):
        plan_run(config, "diamond", RunOptions(from_task="nope"))

    (tmp_path / "gate.flag").write_text("fixed")
    resumed = run(config, lakehouse_session, "diamond", RunOptions(resume=True))
    assert resumed.status == "succeeded" and resumed.resumed_from == first.pipeline_run_id
    assert statuses(resumed) == {
        "land": "skipped",
        "flaky": "skipped",
        "gate": "succeeded",
        "last": "succeeded",
        "alone": "skipped",
    }
    assert resumed.logical_dates == first.logical_dates
    # the succeeded jobs ran once over both runs
    store = DeltaStore(lakehouse_session, StorageLayout.from_config(config))
    counts = {row["job"]: row["count"] for row in store.read(JOB_RUNS_TABLE).groupBy("job").count().collect()}
    assert counts["hello"] == 3  # land and alone once, last once
    with pytest.raises(PipelineError, match="nothing to resume"):
        run(config, lakehouse_session, "diamond", RunOptions(resume=True))


def test_from_and_only_run_the_chosen_tasks_and_dry_run_runs_nothing(
    lakehouse_session, lakehouse_config, tmp_path
):
    (tmp_path / "gate.flag").write_text("open")
    (tmp_path / "flaky.flag").write_text("already failed once")
    config = with_pipelines(lakehouse_config, diamond=diamond(tmp_path))
    plan = plan_run(config, "diamond", RunOptions(date=DAY, from_task="gate"))
    assert [task.task for task in plan.tasks] == ["gate", "last"]
    assert "gate" in plan.describe() and "land" not in plan.describe()
    assert not DeltaStore(lakehouse_session, StorageLayout.from_config(config)).exists(PIPELINE_RUNS_TABLE)

    only = run(config, lakehouse_session, "diamond", RunOptions(date=DAY, only=("alone", "land")))
    assert [task.task for task in only.tasks] == ["land", "alone"] and only.options == {"only": "alone,land"}
    from_gate = run(config, lakehouse_session, "diamond", RunOptions(date=DAY, from_task="gate"))
    assert [task.task for task in from_gate.tasks] == ["gate", "last"] and from_gate.status == "succeeded"
    with pytest.raises(
        PipelineError, match=r"pipelines\.diamond\.tasks\.land: job hello: unknown parameter 'colour'"
    ):
        bad = diamond(tmp_path)
        bad["tasks"]["land"]["params"]["colour"] = "red"
        plan_run(with_pipelines(lakehouse_config, diamond=bad), "diamond", RunOptions(date=DAY))


def test_backfill_of_three_dates_equals_three_single_date_runs(lakehouse_session, session_config, tmp_path):
    from tests.conftest import with_root

    backfilled = with_pipelines(with_root(session_config, tmp_path / "a"), daily=daily_pipeline())
    singles = with_pipelines(with_root(session_config, tmp_path / "b"), daily=daily_pipeline())
    days = [dt.date(2026, 1, 5), dt.date(2026, 1, 6), dt.date(2026, 1, 7)]

    def table(config):
        from lakehouse.storage.catalog import TABLES_ROOT_PROPERTY

        layout = StorageLayout.from_config(config)
        lakehouse_session.conf.set(TABLES_ROOT_PROPERTY, layout.tables_root)
        frame = DeltaStore(lakehouse_session, layout).read("gold.daily_numbers")
        return sorted(tuple(row) for row in frame.collect())

    backfill = run(backfilled, lakehouse_session, "daily", RunOptions(start=days[0], end=days[-1]))
    assert backfill.status == "succeeded" and backfill.logical_dates == [d.isoformat() for d in days]
    assert [(t.task, t.logical_date) for t in backfill.tasks] == [
        (task, day.isoformat()) for day in days for task in ("first", "second")
    ]
    for day in days:
        assert run(singles, lakehouse_session, "daily", RunOptions(date=day)).status == "succeeded"
    expected = table(singles)
    assert table(backfilled) == expected
    # lineage: the later days' job runs read the table at the version the earlier days left
    records = read_job_runs(lakehouse_session, backfilled, backfill.job_run_ids())
    reads = [records[task.job_run_ids[-1]].tables_read for task in backfill.tasks]
    versions = [read["gold.daily_numbers"] for read in reads[1:]]
    assert reads[0] == {} and versions == list(range(versions[0], versions[0] + 5)) and versions[0] >= 0
    assert len(expected) == 12 and {row[3] for row in expected} == {0, 4, 8}  # each day saw the earlier ones
    # a rerun of the backfill is idempotent
    run(backfilled, lakehouse_session, "daily", RunOptions(start=days[0], end=days[-1]))
    assert table(backfilled) == expected


def test_a_second_run_is_refused_while_the_first_holds_the_lock(
    lakehouse_session, lakehouse_config, tmp_path
):
    config = with_pipelines(lakehouse_config, daily=daily_pipeline())
    layout = StorageLayout.from_config(config)
    holder = PipelineLock(lock_location(layout, "daily", config.env), config.pipelines["daily"].lock)
    holder.acquire("the-first-run", "daily", config.env)
    holder.update("first (1/2)")
    try:
        with pytest.raises(
            PipelineLockedError, match=r"already running: run the-first-run .* at first \(1/2\)"
        ):
            run(config, lakehouse_session, "daily")
    finally:
        holder.release()
    assert not DeltaStore(lakehouse_session, layout).exists(PIPELINE_RUNS_TABLE)  # nothing ran
    assert run(config, lakehouse_session, "daily").status == "succeeded"  # released: runs


def test_a_stale_lock_is_released_and_its_run_marked_abandoned(lakehouse_session, lakehouse_config):
    config = with_pipelines(lakehouse_config, daily=daily_pipeline())
    layout = StorageLayout.from_config(config)
    # a run that was killed after its first task: its state file and its lock remain, its process is gone
    store = PipelineRunStore(lakehouse_session, layout)
    finished = run(config, lakehouse_session, "daily")
    started = dt.datetime.now(dt.UTC)  # after the finished run: the latest run of the pipeline
    killed = replace(
        finished,
        pipeline_run_id="killed-run",
        status=RUNNING,
        started_at=started,
        ended_at=None,
        duration_seconds=None,
        tasks=[finished.tasks[0], replace(finished.tasks[1], status="pending", attempts=0)],
    )
    store.write_state(killed)
    dead = subprocess.Popen(["true"])
    dead.wait()
    owner = LockOwner(
        "killed-run",
        "daily",
        config.env,
        socket.gethostname(),
        dead.pid,
        started.isoformat(),
        started.isoformat(),
    )
    location = Path(lock_location(layout, "daily", config.env))
    location.write_text(json.dumps(asdict(owner)))

    lines = []
    resumed = run(config, lakehouse_session, "daily", RunOptions(resume=True), lines=lines)
    assert any("released the stale lock of run killed-run" in line for line in lines)
    abandoned = store.get("killed-run")
    assert abandoned.status == "abandoned" and [t.status for t in abandoned.tasks] == ["succeeded", "pending"]
    assert store.read_state("killed-run") is None
    # --resume continued the abandoned run: only its unfinished task ran
    assert resumed.status == "succeeded" and resumed.resumed_from == "killed-run"
    assert [t.status for t in resumed.tasks] == ["skipped", "succeeded"]
    assert not location.exists()  # the finished run released its own lock
    # a live holder on another host with an old heartbeat is stale too
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    settings = config.pipelines["daily"].lock
    assert LockOwner("x", "daily", "local", "other-host", 1, old, old).stale_because(
        settings, dt.datetime.now(dt.UTC)
    )
    fresh = dt.datetime.now(dt.UTC).isoformat()
    assert (
        LockOwner("x", "daily", "local", "other-host", 1, fresh, fresh).stale_because(
            settings, dt.datetime.now(dt.UTC)
        )
        is None
    )


def test_submit_mode_runs_each_job_as_its_own_spark_submit(lakehouse_session, lakehouse_config, monkeypatch):
    from lakehouse.pipelines.executors import spark_submit_command

    monkeypatch.setenv("LAKEHOUSE_ROOT", lakehouse_config.storage.root)  # the jobs load conf/local themselves
    config = with_pipelines(
        lakehouse_config,
        sub={
            "mode": "submit",
            "tasks": {
                "numbers": {"job": "hello", "params": {"rows": 25}},
                "more": {"job": "hello", "params": {"rows": 5, "table": "gold.more"}, "after": ["numbers"]},
            },
        },
    )
    command = spark_submit_command(config, "hello", {"rows": "25"}, "r1", "p1")
    assert (
        command[0].endswith("spark-submit") and command[command.index("--master") + 1] == config.spark.master
    )
    assert command[-4:] == ["--run-id", "r1", "--pipeline-run-id", "p1"] and "jobs/hello.py" in " ".join(
        command
    )

    record = run(config, lakehouse_session, "sub")
    assert record.mode == "submit" and record.status == "succeeded", record.error
    assert [task.rows_written for task in record.tasks] == [{"bronze.hello": 25}, {"gold.more": 5}]
    records = read_job_runs(lakehouse_session, config, record.job_run_ids())
    applications = {r.spark_app_id for r in records.values()}
    assert len(applications) == 2 and lakehouse_session.sparkContext.applicationId not in applications
    assert DeltaStore(lakehouse_session, StorageLayout.from_config(config)).read("gold.more").count() == 5


def test_catch_up_plans_every_logical_date_missed_since_the_last_success(lakehouse_session, lakehouse_config):
    config = with_pipelines(
        lakehouse_config,
        daily={**daily_pipeline(), "schedule": "0 2 * * *", "max_catch_up": 3},
        weekly={**daily_pipeline(), "schedule": "0 2 * * *"},
    )
    store = PipelineRunStore(lakehouse_session, StorageLayout.from_config(config))
    now = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)
    # never ran: the latest logical date only
    assert plan_run(config, "daily", RunOptions(catch_up=True), store, now).dates == [dt.date(2026, 11, 25)]
    finished = run(config, lakehouse_session, "weekly", RunOptions(date=dt.date(2026, 11, 20)))
    store.save(replace(finished, pipeline_run_id="daily-20", pipeline="daily"))
    assert plan_run(config, "weekly", RunOptions(catch_up=True), store, now).dates == [
        dt.date(2026, 11, day) for day in range(21, 26)
    ]
    # at most max_catch_up, the newest
    assert plan_run(config, "daily", RunOptions(catch_up=True), store, now).dates == [
        dt.date(2026, 11, day) for day in range(23, 26)
    ]
    with pytest.raises(PipelineError, match="--catch-up chooses the dates itself"):
        plan_run(config, "daily", RunOptions(catch_up=True, date=DAY), store, now)


def test_an_unknown_table_in_a_task_param_is_refused_when_planning(lakehouse_config):
    pipeline = {
        "tasks": {
            "silver_refine": {"params": {"table": "orders"}},
            "gold_features": {"params": {"table": "customer_activty"}, "after": ["silver_refine"]},
        }
    }
    config = with_pipelines(lakehouse_config, features_only=pipeline)

    with pytest.raises(PipelineError) as raised:
        plan_run(config, "features_only", RunOptions(date=DAY))

    assert str(raised.value).startswith(
        "pipelines.features_only.tasks.gold_features: job gold_features: --param table=customer_activty: "
        "'customer_activty' (did you mean 'customer_activity'?)"
    )

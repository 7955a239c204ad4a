"""A pipeline's logical dates must have landed data (``landed:``) before any job runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lakehouse.errors import PipelineError
from lakehouse.pipelines.landed import (
    LandedDataMissingError,
    check_landed,
    landed_folder_problems,
    newest_landed_date,
)
from lakehouse.pipelines.records import PIPELINE_RUNS_TABLE
from lakehouse.pipelines.runner import RunOptions, plan_run, run_pipeline
from lakehouse.storage.layout import StorageLayout
from tests.pipelines.test_runner import with_pipelines

FOLDERS = ["landing/orders/{date}", "landing/tickets/tickets-{date}"]


def land(config, folder: str, name: str = "part.csv") -> None:
    path = Path(StorageLayout.from_config(config).files_location(folder))
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text("x\n")


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("landing/orders/{date}", None),
        ("abfss://c@a.dfs.core.windows.net/landing/{date}/orders", None),
        ("landing/orders", "must hold {date} exactly once"),
        ("landing/{date}/{date}", "must hold {date} exactly once"),
        ("landing/{date+1}", "must hold {date} exactly once"),
        ("../landing/{date}", "must not contain '..'"),
    ],
)
def test_a_landed_folder_holds_the_date_once(template, problem):
    problems = landed_folder_problems(template)
    assert (problems == []) if problem is None else any(problem in text for text in problems), problems


def test_a_date_is_landed_when_every_folder_holds_a_file(spark, lakehouse_config):
    layout = StorageLayout.from_config(lakehouse_config)
    day, next_day = dt.date(2026, 1, 7), dt.date(2026, 1, 8)
    land(lakehouse_config, "landing/orders/2026-01-07", "orders-2026-01-07.csv")
    land(lakehouse_config, "landing/tickets/tickets-2026-01-07/part=0", "t.jsonl")  # subfolders count
    land(lakehouse_config, "landing/orders/2026-01-08")
    # a folder with only Spark's markers holds no data
    land(lakehouse_config, "landing/tickets/tickets-2026-01-08", "_SUCCESS")

    found = check_landed(spark, layout, "daily", FOLDERS, [day])
    assert [(f.folder, f.files) for f in found[day]] == [
        ("landing/orders/2026-01-07", 1),
        ("landing/tickets/tickets-2026-01-07", 1),
    ]
    assert newest_landed_date(spark, layout, FOLDERS) == day
    assert newest_landed_date(spark, layout, ["{date}/orders"]) is None  # dated folders at the root: none
    assert check_landed(spark, layout, "daily", [], [next_day]) == {}  # nothing declared, nothing checked

    with pytest.raises(LandedDataMissingError) as raised:
        check_landed(spark, layout, "daily", FOLDERS, [day, next_day, dt.date(2026, 1, 9)])
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        "pipeline daily: no data landed for logical dates 2026-01-08, 2026-01-09: "
        "landing/tickets/tickets-2026-01-08 is missing or empty (under "
    )
    assert "; only landing/orders/2026-01-08 landed" in message
    assert message.endswith(
        "the newest date with every folder landed is 2026-01-07: run with --date 2026-01-07"
    )
    assert isinstance(raised.value, PipelineError)

    with pytest.raises(LandedDataMissingError, match="no date has landed in those folders yet"):
        check_landed(spark, layout, "daily", ["nowhere/{date}"], [day])


def test_a_run_whose_date_has_not_landed_fails_before_any_job_and_says_what_it_processes(
    lakehouse_session, lakehouse_config
):
    pipeline = {
        "schedule": "0 2 * * *",
        "landed": ["landing/orders/{date}"],
        "tasks": {"hello": {"params": {"rows": 3}}},
    }
    config = with_pipelines(lakehouse_config, nightly=pipeline)
    land(config, "landing/orders/2026-01-07")
    now = dt.datetime(2026, 1, 8, 3, 0, tzinfo=dt.UTC)
    plan = plan_run(config, "nightly", RunOptions(), now=now)
    assert plan.dates == [dt.date(2026, 1, 7)]
    assert plan.dates_chosen_by == (
        "no --date: the latest logical date of the schedule '0 2 * * *', whose run was due "
        "2026-01-08 02:00 UTC; --date picks another"
    )
    text = plan.describe()
    assert "logical date 2026-01-07 (no --date: the latest logical date" in text
    assert "each date's data must have landed in: landing/orders/{date}" in text

    lines: list[str] = []
    with pytest.raises(
        LandedDataMissingError,
        match=r"logical date [0-9-]{10} \(no --date: the latest logical date of the schedule",
    ):
        run_pipeline(config, "nightly", RunOptions(), lakehouse_session, lines.append)  # today's date
    with pytest.raises(LandedDataMissingError, match=r"2026-01-08: landing/orders/2026-01-08 is missing"):
        run_pipeline(config, "nightly", RunOptions(date=dt.date(2026, 1, 8)), lakehouse_session, lines.append)
    tables = StorageLayout.from_config(config)
    assert not Path(tables.table(PIPELINE_RUNS_TABLE).location).exists()  # no run was started
    assert not Path(tables.table("bronze.hello").location).exists()

    record = run_pipeline(
        config,
        "nightly",
        RunOptions(date=dt.date(2026, 1, 7)),
        lakehouse_session,
        lines.append,
        summarize=False,
    )
    assert record.status == "succeeded"  # the lock was released by the refused run
    assert "data landed for 2026-01-07: landing/orders/2026-01-07 (1 file)" in lines

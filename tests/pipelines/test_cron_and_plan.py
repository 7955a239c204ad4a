"""Cron schedules, dependency order, task selection, dates and parameter templates: pure functions."""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.config.pipelines import PipelineSettings
from lakehouse.errors import PipelineError
from lakehouse.pipelines.cron import CronError, parse_cron
from lakehouse.pipelines.graph import dependency_order, downstream, find_cycle, render
from lakehouse.pipelines.plan import build_plan, logical_dates, retry_delay, select_tasks

DIAMOND = PipelineSettings.model_validate(
    {
        "schedule": "0 2 * * *",
        "retries": 2,
        "retry_delay_seconds": 10,
        "retry_backoff": 3,
        "max_retry_delay_seconds": 60,
        "tasks": {
            # declared out of order on purpose: the plan must still respect the dependencies
            "report": {"job": "hello", "after": ["left", "right"]},
            "left": {"job": "hello", "after": ["land"], "params": {"start": "{date}", "end": "{date+1}"}},
            "land": {"job": "hello", "retries": 0},
            "right": {"job": "hello", "after": ["land"], "params": {"day": "{date-1}", "rows": 5}},
            "alone": {"job": "hello"},
        },
    }
)


def test_dependency_order_puts_every_task_after_what_it_waits_for():
    order = dependency_order(DIAMOND.edges())
    assert order == ["land", "left", "right", "report", "alone"]
    for task, upstream in DIAMOND.edges().items():
        assert all(order.index(up) < order.index(task) for up in upstream)


def test_a_cycle_is_found_with_its_path():
    assert find_cycle({"a": ["c"], "b": ["a"], "c": ["b"]}) == ["a", "c", "b", "a"]
    assert find_cycle(DIAMOND.edges()) is None
    with pytest.raises(ValueError, match="dependency cycle"):
        dependency_order({"a": ["b"], "b": ["a"]})


def test_from_takes_the_task_and_everything_downstream_only_takes_the_named():
    assert select_tasks(DIAMOND, "p", "left", ()) == ["left", "report"]
    assert select_tasks(DIAMOND, "p", "land", ()) == ["land", "left", "right", "report"]
    assert select_tasks(DIAMOND, "p", None, ("right", "alone")) == ["right", "alone"]
    assert downstream(DIAMOND.edges(), ["right"]) == {"right", "report"}
    with pytest.raises(PipelineError, match="no task nope; tasks: land, left"):
        select_tasks(DIAMOND, "p", "nope", ())
    with pytest.raises(PipelineError, match="not both"):
        select_tasks(DIAMOND, "p", "land", ("left",))


def test_backfill_plans_every_date_in_order_with_rendered_params():
    dates = logical_dates(DIAMOND, start=dt.date(2026, 1, 30), end=dt.date(2026, 2, 1))
    assert dates == [dt.date(2026, 1, 30), dt.date(2026, 1, 31), dt.date(2026, 2, 1)]
    plan = build_plan(DIAMOND, "p", "local", "session", dates, ["land", "left", "right"])
    assert [(t.task, t.logical_date.isoformat()) for t in plan.tasks] == [
        ("land", "2026-01-30"),
        ("left", "2026-01-30"),
        ("right", "2026-01-30"),
        ("land", "2026-01-31"),
        ("left", "2026-01-31"),
        ("right", "2026-01-31"),
        ("land", "2026-02-01"),
        ("left", "2026-02-01"),
        ("right", "2026-02-01"),
    ]
    left = plan.tasks[4]
    assert left.params == {"start": "2026-01-31", "end": "2026-02-01"}
    assert plan.tasks[5].params == {"day": "2026-01-30", "rows": "5"}
    assert plan.tasks[3].retries == 0 and left.retries == 2
    assert "left" in plan.describe() and "start=2026-01-31" in plan.describe()


def test_dates_are_one_date_a_range_or_the_schedules_latest():
    now = dt.datetime(2026, 11, 26, 1, 59, tzinfo=dt.UTC)  # before today's 02:00 run
    assert logical_dates(DIAMOND, now=now) == [dt.date(2026, 11, 24)]
    later = dt.datetime(2026, 11, 26, 2, 0, tzinfo=dt.UTC)
    assert logical_dates(DIAMOND, now=later) == [dt.date(2026, 11, 25)]
    assert logical_dates(DIAMOND, date=dt.date(2026, 3, 1)) == [dt.date(2026, 3, 1)]
    with pytest.raises(PipelineError, match="before --start"):
        logical_dates(DIAMOND, start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 1))
    with pytest.raises(PipelineError, match="both --start and --end"):
        logical_dates(DIAMOND, start=dt.date(2026, 3, 2))
    with pytest.raises(PipelineError, match="not both"):
        logical_dates(DIAMOND, date=dt.date(2026, 3, 1), start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 2))


def test_cron_fields_presets_and_previous_fire_times():
    weekdays = parse_cron("30 6,18 * * mon-fri")
    # Saturday 2026-11-28 12:00 -> Friday 18:30
    assert weekdays.previous(dt.datetime(2026, 11, 28, 12, 0)) == dt.datetime(2026, 11, 27, 18, 30)
    assert weekdays.previous(dt.datetime(2026, 11, 27, 18, 30)) == dt.datetime(2026, 11, 27, 6, 30)
    every_15 = parse_cron("*/15 * * * *")
    assert every_15.minutes == (0, 15, 30, 45)
    monthly = parse_cron("@monthly")
    assert monthly.previous(dt.datetime(2026, 3, 1, 0, 0)) == dt.datetime(2026, 2, 1, 0, 0)
    assert monthly.logical_date(dt.datetime(2026, 3, 1)) == dt.date(2026, 2, 1)
    # both day fields restricted: either matches (Vixie cron)
    either = parse_cron("0 0 13 * fri")
    assert either.day_matches(dt.date(2026, 11, 13)) and either.day_matches(dt.date(2026, 11, 20))
    assert not either.day_matches(dt.date(2026, 11, 19))
    daily = parse_cron("0 2 * * *")
    assert daily.logical_dates_between(dt.date(2026, 11, 22), dt.datetime(2026, 11, 26, 2, 0)) == [
        dt.date(2026, 11, 23),
        dt.date(2026, 11, 24),
        dt.date(2026, 11, 25),
    ]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 2 * *", "expected 5 fields"),
        ("61 * * * *", "minute '61': 61 is outside 0-59"),
        ("0 2 * foo *", "month 'foo'"),
        ("0 5-2 * * *", "runs backwards"),
        ("*/0 * * * *", "step '0'"),
    ],
)
def test_bad_cron_is_refused_naming_the_field(expression, message):
    with pytest.raises(CronError, match=message):
        parse_cron(expression)


def test_never_firing_schedule_is_reported():
    with pytest.raises(CronError, match="never fires"):
        parse_cron("0 0 30 2 *").previous(dt.datetime(2026, 1, 1))


def test_date_placeholders_and_retry_backoff():
    day = dt.date(2026, 3, 1)
    assert render("{date}", day) == "2026-03-01"
    assert render("from {date-1} to {date+30}", day) == "from 2026-02-28 to 2026-03-31"
    assert render(True, None) == "true" and render(7, None) == "7"
    with pytest.raises(ValueError, match="needs a logical date"):
        render("{date}", None)
    assert [retry_delay(DIAMOND, 10, attempt) for attempt in (1, 2, 3)] == [10, 30, 60]

"""What a pipeline run will do: its tasks for each logical date, in dependency order.

A plan is computed from the configuration, the chosen options and (to resume or catch up) the
earlier runs; everything but :func:`plan_run`, which reads those runs and checks each task's job
parameters, is pure. Printing a plan is ``--dry-run``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from lakehouse.config.model import LakehouseConfig
from lakehouse.config.pipelines import PipelineSettings
from lakehouse.display import text_table
from lakehouse.errors import LakehouseError, PipelineError
from lakehouse.pipelines.cron import parse_cron
from lakehouse.pipelines.graph import dependency_order, downstream, render
from lakehouse.pipelines.records import FINISHED_OK, SUCCEEDED, PipelineRunStore
from lakehouse.runs.job import find_job, prepare_params

MAX_BACKFILL_DAYS = 3660


@dataclass(frozen=True)
class PlannedTask:
    """One task to run for one logical date."""

    task: str
    job: str
    logical_date: dt.date
    params: dict[str, str]
    after: tuple[str, ...]
    retries: int
    retry_delay_seconds: float

    @property
    def key(self) -> tuple[str, str]:
        return self.task, self.logical_date.isoformat()

    @property
    def label(self) -> str:
        return f"{self.task} [{self.logical_date.isoformat()}]"


@dataclass(frozen=True)
class Plan:
    """A pipeline run's tasks in the order they run; ``done`` ones are skipped (resume)."""

    pipeline: str
    env: str
    mode: str
    dates: list[dt.date]
    tasks: list[PlannedTask]
    done: dict[tuple[str, str], str] = field(default_factory=dict)  # key -> why it is skipped
    options: dict[str, str] = field(default_factory=dict)
    resumed_from: str | None = None
    dates_chosen_by: str = ""  # how the dates were picked when no --date or range was given
    landed: tuple[str, ...] = ()  # the folders each date's data lands in (pipelines.<name>.landed)

    def describe(self) -> str:
        """The plan as text: what ``--dry-run`` prints."""
        dates = ", ".join(date.isoformat() for date in self.dates)
        lines = [
            f"pipeline {self.pipeline} (env {self.env}, {self.mode} mode): {len(self.tasks)} task runs, "
            f"logical date{'s' if len(self.dates) > 1 else ''} {dates}"
            + (f" ({self.dates_chosen_by})" if self.dates_chosen_by else "")
            + (f"; resuming run {self.resumed_from}" if self.resumed_from else "")
        ]
        if self.landed:
            lines.append(f"before running, each date's data must have landed in: {', '.join(self.landed)}")
        rows = [("#", "TASK", "JOB", "DATE", "AFTER", "RETRIES", "PARAMS", "")]
        for number, task in enumerate(self.tasks, 1):
            params = " ".join(f"{key}={value}" for key, value in task.params.items())
            rows.append(
                (
                    str(number),
                    task.task,
                    task.job,
                    task.logical_date.isoformat(),
                    ",".join(task.after) or "-",
                    str(task.retries),
                    params,
                    f"skip: {self.done[task.key]}" if task.key in self.done else "",
                )
            )
        lines.append(text_table(rows))
        return "\n".join(lines)


def logical_dates(
    settings: PipelineSettings,
    date: dt.date | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    now: dt.datetime | None = None,
) -> list[dt.date]:
    """The logical dates a run covers: ``--date``, every day of ``--start``..``--end``, or by default
    the latest logical date of the schedule (yesterday without a schedule).

    Raises:
        PipelineError: both a date and a range, half a range, or an end before the start.
    """
    if date is not None and (start is not None or end is not None):
        raise PipelineError("give --date, or --start and --end, not both")
    if date is not None:
        return [date]
    if (start is None) != (end is None):
        raise PipelineError("a backfill needs both --start and --end")
    if start is not None and end is not None:
        if end < start:
            raise PipelineError(f"--end {end} is before --start {start}")
        days = (end - start).days + 1
        if days > MAX_BACKFILL_DAYS:
            raise PipelineError(f"--start {start} --end {end}: {days} days; at most {MAX_BACKFILL_DAYS}")
        return [start + dt.timedelta(days=offset) for offset in range(days)]
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
    if settings.schedule is None:
        return [now.date() - dt.timedelta(days=1)]
    schedule = parse_cron(settings.schedule)
    return [schedule.logical_date(schedule.latest(now))]


def dates_chosen_by(settings: PipelineSettings, now: dt.datetime | None = None) -> str:
    """How :func:`logical_dates` picks the date when no ``--date`` or range is given, in words
    (printed with the plan, so that a run without ``--date`` says what it processes)."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
    if settings.schedule is None:
        return "no --date given and no schedule: yesterday (UTC)"
    fired = parse_cron(settings.schedule).latest(now)
    return (
        f"no --date: the latest logical date of the schedule '{settings.schedule}', whose run was due "
        f"{fired:%Y-%m-%d %H:%M} UTC; --date picks another"
    )


def select_tasks(
    settings: PipelineSettings, name: str, from_task: str | None, only: Sequence[str]
) -> list[str]:
    """The tasks a run includes, in dependency order: all, ``--from`` a task and everything
    downstream of it, or ``--only`` the named ones.

    Raises:
        PipelineError: an unknown task, or both options.
    """
    edges = settings.edges()
    order = dependency_order(edges)
    named = [*([from_task] if from_task else []), *only]
    unknown = [task for task in named if task not in edges]
    if unknown:
        raise PipelineError(f"pipeline {name} has no task {', '.join(unknown)}; tasks: {', '.join(order)}")
    if from_task and only:
        raise PipelineError("give --from or --only, not both")
    if from_task:
        chosen = downstream(edges, [from_task])
        return [task for task in order if task in chosen]
    if only:
        return [task for task in order if task in set(only)]
    return order


def build_plan(
    settings: PipelineSettings,
    name: str,
    env: str,
    mode: str,
    dates: Sequence[dt.date],
    tasks: Sequence[str],
    done: dict[tuple[str, str], str] | None = None,
    options: dict[str, str] | None = None,
    resumed_from: str | None = None,
    dates_chosen_by: str = "",
) -> Plan:
    """Every chosen task for every date: all tasks of a date before the next date's.

    Raises:
        PipelineError: a parameter's ``{date}`` placeholder cannot be filled; names the key.
    """
    planned: list[PlannedTask] = []
    chosen: Collection[str] = set(tasks)
    for date in dates:
        for task_name in tasks:
            task = settings.tasks[task_name]
            params = {}
            for key, value in task.params.items():
                try:
                    params[key] = render(value, date)
                except ValueError as error:
                    raise PipelineError(f"pipelines.{name}.tasks.{task_name}.params.{key}: {error}") from None
            planned.append(
                PlannedTask(
                    task=task_name,
                    job=task.job_name(task_name),
                    logical_date=date,
                    params=params,
                    after=tuple(up for up in task.after if up in chosen),
                    retries=settings.retries if task.retries is None else task.retries,
                    retry_delay_seconds=(
                        settings.retry_delay_seconds
                        if task.retry_delay_seconds is None
                        else task.retry_delay_seconds
                    ),
                )
            )
    return Plan(
        name,
        env,
        mode,
        list(dates),
        planned,
        dict(done or {}),
        dict(options or {}),
        resumed_from,
        dates_chosen_by,
        tuple(settings.landed),
    )


def retry_delay(settings: PipelineSettings, first_delay: float, attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential backoff, capped."""
    return min(first_delay * settings.retry_backoff ** (attempt - 1), settings.max_retry_delay_seconds)


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

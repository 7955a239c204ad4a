"""What a pipeline run tells as it goes, as events, and the lines ``lakehouse pipeline run`` prints
for them.

:class:`~lakehouse.pipelines.runner.PipelineRunner` emits one event per step of a run (started,
data landed, each task skipped, blocked, running, retried, succeeded or failed); a listener
decides what to do with them. :class:`ProgressPrinter` writes the terminal's progress lines; an
orchestrator or a test may listen instead, or as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from lakehouse.display import duration
from lakehouse.pipelines.landed import LandedFolder
from lakehouse.pipelines.plan import Plan, PlannedTask


@dataclass(frozen=True)
class StaleLockReleased:
    pipeline_run_id: str
    pid: int | str
    host: str


@dataclass(frozen=True)
class RunStarted:
    plan: Plan
    run_id: str
    landed: dict[dt.date, list[LandedFolder]]


@dataclass(frozen=True)
class TaskSkipped:
    task: PlannedTask
    reason: str  # e.g. succeeded in run 1a2b3c4d


@dataclass(frozen=True)
class TaskBlocked:
    task: PlannedTask
    failed_upstream: list[str]


@dataclass(frozen=True)
class TaskRunning:
    task: PlannedTask


@dataclass(frozen=True)
class TaskSucceeded:
    task: PlannedTask
    seconds: float
    attempt: int
    rows_written: dict[str, int]


@dataclass(frozen=True)
class TaskRetrying:
    task: PlannedTask
    attempt: int
    attempts: int
    error: str
    wait_seconds: float


@dataclass(frozen=True)
class TaskFailed:
    task: PlannedTask
    attempts: int
    error: str


Event = (
    StaleLockReleased
    | RunStarted
    | TaskSkipped
    | TaskBlocked
    | TaskRunning
    | TaskSucceeded
    | TaskRetrying
    | TaskFailed
)


class ProgressPrinter:
    """The progress lines of a run, one per event: ``[3/13] silver_refine  succeeded in 31.5 s; ...``."""

    def __init__(self, out: Callable[[str], None] = print):
        self.out = out
        self.prefixes: dict[tuple[str, str], str] = {}  # each task's "[n/N] name", set when its run starts

    def __call__(self, event: Event) -> None:
        if isinstance(event, StaleLockReleased):
            self.out(
                f"released the stale lock of run {event.pipeline_run_id} (pid {event.pid} on {event.host})"
            )
        elif isinstance(event, RunStarted):
            self._started(event)
        elif isinstance(event, TaskSkipped):
            self.out(f"{self._prefix(event.task)}  skipped ({event.reason})")
        elif isinstance(event, TaskBlocked):
            self.out(f"{self._prefix(event.task)}  not run: {', '.join(event.failed_upstream)} failed")
        elif isinstance(event, TaskRunning):
            self.out(f"{self._prefix(event.task)}  running")
        elif isinstance(event, TaskSucceeded):
            written = ", ".join(f"{table} {count}" for table, count in sorted(event.rows_written.items()))
            self.out(
                f"{self._prefix(event.task)}  succeeded in {duration(event.seconds)}"
                f"{f' (attempt {event.attempt})' if event.attempt > 1 else ''}; {written or 'no rows'}"
            )
        elif isinstance(event, TaskRetrying):
            self.out(
                f"{self._prefix(event.task)}  attempt {event.attempt}/{event.attempts} failed: "
                f"{short(event.error)}; retrying in {event.wait_seconds:.0f} s"
            )
        elif isinstance(event, TaskFailed):
            attempts = f"{event.attempts} attempt{'s' if event.attempts > 1 else ''}"
            self.out(f"{self._prefix(event.task)}  FAILED after {attempts}: {short(event.error)}")

    def _started(self, event: RunStarted) -> None:
        plan = event.plan
        width = max((len(shown(plan, task)) for task in plan.tasks), default=0)
        digits = len(str(len(plan.tasks)))
        self.prefixes = {
            task.key: f"[{number:>{digits}}/{len(plan.tasks)}] {shown(plan, task):<{width}}"
            for number, task in enumerate(plan.tasks, 1)
        }
        dates = ", ".join(date.isoformat() for date in plan.dates)
        self.out(
            f"pipeline {plan.pipeline} (env {plan.env}, {plan.mode} mode): run {event.run_id}, "
            f"{len(plan.tasks)} task runs, logical date{'s' if len(plan.dates) > 1 else ''} {dates}"
            + (f" ({plan.dates_chosen_by})" if plan.dates_chosen_by else "")
            + (f", resuming {plan.resumed_from}" if plan.resumed_from else "")
        )
        for date, folders in list(event.landed.items())[:3]:
            self.out(f"data landed for {date}: {', '.join(folder.describe() for folder in folders)}")
        if len(event.landed) > 3:
            self.out(
                f"... and for {len(event.landed) - 3} more dates, every folder of {', '.join(plan.landed)}"
            )

    def _prefix(self, task: PlannedTask) -> str:
        return self.prefixes[task.key]


def shown(plan: Plan, task: PlannedTask) -> str:
    """A task as the progress lines name it: with its date only when the run covers several."""
    return task.label if len(plan.dates) > 1 else task.task


def short(message: str, limit: int = 300) -> str:
    """An error message on one line, cut at ``limit`` characters."""
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."

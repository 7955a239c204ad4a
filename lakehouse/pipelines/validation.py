"""pipelines.yml's problems, checked when the configuration loads (registered in the entry points
``lakehouse.config_checks``): names, schedules, landed folders, services, jobs, task references,
parameter templates and dependency cycles, each with its key."""

from __future__ import annotations

import difflib
import re

from lakehouse.config.model import LakehouseConfig
from lakehouse.config.pipelines import PipelineSettings, PipelineTaskSettings
from lakehouse.pipelines.cron import CronError, parse_cron
from lakehouse.pipelines.graph import find_cycle, template_problems
from lakehouse.pipelines.landed import landed_folder_problems
from lakehouse.pipelines.services import available_services
from lakehouse.runs.job import available_jobs

Problem = tuple[tuple[str, ...], str]


def pipeline_problems(config: LakehouseConfig) -> list[Problem]:
    """Pipelines name registered jobs and services and their own tasks, without cycles, on valid
    schedules."""
    jobs = sorted(available_jobs())
    services = sorted(available_services())
    problems: list[Problem] = []
    for name, pipeline in config.pipelines.items():
        problems += _pipeline_problems(name, pipeline, services)
        for task_name, task in pipeline.tasks.items():
            problems += _task_problems(name, pipeline, task_name, task, jobs)
        cycle = find_cycle(
            {task: [up for up in edges if up != task] for task, edges in pipeline.edges().items()}
        )
        if cycle:
            key = ("pipelines", name, "tasks", cycle[0], "after")
            problems.append((key, f"dependency cycle: {' -> '.join(cycle)}"))
    return problems


def _pipeline_problems(name: str, pipeline: PipelineSettings, services: list[str]) -> list[Problem]:
    """A pipeline's own settings: its name, services, schedule, tasks and landed folders."""
    key = ("pipelines", name)
    problems: list[Problem] = []
    registered = ", ".join(services) or "none"
    for index, service in enumerate(pipeline.services):
        if service not in services:
            problems.append(
                (
                    (*key, "services", str(index)),
                    f"unknown service {service!r}; registered services: {registered}",
                )
            )
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        problems.append((key, f"pipeline name {name!r} must be lower case: letters, digits, _ and -"))
    if pipeline.schedule is not None:
        try:
            parse_cron(pipeline.schedule)
        except CronError as error:
            problems.append(((*key, "schedule"), str(error)))
    if not pipeline.tasks:
        problems.append(((*key, "tasks"), "a pipeline needs at least one task"))
    for index, folder in enumerate(pipeline.landed):
        for problem in landed_folder_problems(folder):
            problems.append(((*key, "landed", str(index)), problem))
    return problems


def _task_problems(
    name: str, pipeline: PipelineSettings, task_name: str, task: PipelineTaskSettings, jobs: list[str]
) -> list[Problem]:
    """One task: a registered job (or ``package.module:JobClass``), tasks of its pipeline to wait
    for, and parameter templates that expand."""
    task_key = ("pipelines", name, "tasks", task_name)
    problems: list[Problem] = []
    job = task.job_name(task_name)
    if ":" in job:
        module, _, attribute = job.partition(":")
        if not all(part.isidentifier() for part in [*module.split("."), attribute]):
            problems.append(((*task_key, "job"), f"{job!r} is not package.module:JobClass"))
    elif job not in jobs:
        close = difflib.get_close_matches(job, jobs, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        message = f"unknown job {job!r}; {hint}registered jobs: {', '.join(jobs) or 'none'}"
        problems.append(((*task_key, "job") if task.job else task_key, message))
    tasks = list(pipeline.tasks)
    for upstream in task.after:
        if upstream == task_name:
            problems.append(((*task_key, "after"), "a task cannot wait for itself"))
        elif upstream not in pipeline.tasks:
            close = difflib.get_close_matches(upstream, tasks, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            message = f"no task {upstream!r} in pipeline {name}; {hint}tasks: {', '.join(tasks)}"
            problems.append(((*task_key, "after"), message))
    for param, value in task.params.items():
        for problem in template_problems(value):
            problems.append(((*task_key, "params", param), problem))
    return problems

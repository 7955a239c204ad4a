"""What a job is: a named class with typed parameters and a ``run`` method.

Jobs are found through the ``lakehouse.jobs`` entry-point group, so a user's own package
adds jobs by declaring, in its ``pyproject.toml``::

    [project.entry-points."lakehouse.jobs"]
    my_job = "my_package.jobs:MyJob"
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import logging
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from lakehouse.errors import ConfigError, JobNotFoundError, JobParameterError, LakehouseError

if TYPE_CHECKING:
    from lakehouse.runs.context import JobContext

ENTRY_POINT_GROUP = "lakehouse.jobs"
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class NoParams:
    """Parameters of a job that takes none."""


class Job(ABC):
    """A unit of work that ``lakehouse run`` and ``spark-submit jobs/<name>.py`` execute.

    Subclasses set ``name``, ``summary`` and ``Params`` (a frozen dataclass whose fields are
    the job's parameters, with defaults) and implement :meth:`run`, which wires
    read -> transform -> check -> write through the context and returns nothing.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type] = NoParams

    @abstractmethod
    def run(self, context: JobContext) -> None:
        """Do the job's work; raise to fail the run."""


def selected_names(
    available: list[str], wanted: str, layer: str, declared_in: str, param: str = "table"
) -> list[str]:
    """The names a ``table`` (or ``param``) parameter picks: ``all``, one name or a
    comma-separated list, with or without the ``<layer>.`` prefix; in declared order.

    Raises:
        ConfigError: an unknown name, naming where the known ones are declared.
    """
    if wanted.strip() == "all":
        return available
    names = [name.strip().removeprefix(f"{layer}.") for name in wanted.split(",") if name.strip()]
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ConfigError(f"--param {param}: {unknown} not in {declared_in}; known: {', '.join(available)}")
    return [name for name in available if name in names]


def date_range(start: str, end: str) -> tuple[dt.date | None, dt.date | None]:
    """The ``start`` and ``end`` date parameters of a job (``YYYY-MM-DD``; empty: not given).

    Raises:
        ConfigError: a value is not a date, or ``end`` is before ``start``.
    """

    def parsed(value: str, name: str) -> dt.date | None:
        if not value.strip():
            return None
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ConfigError(f"--param {name}={value!r}: expected a date YYYY-MM-DD") from None

    first, last = parsed(start, "start"), parsed(end, "end")
    if first and last and last < first:
        raise ConfigError(f"--param end={last} is before --param start={first}")
    return first, last


def raise_collected(
    failed: Mapping[str, Exception], attempted: int, what: str, error: type[Exception]
) -> None:
    """Raise for the parts of a job that failed while the others went on (sources, tables).

    One part attempted and failed: its own error. Several: ``error`` naming each failed part, with
    the first failure as the cause. Nothing failed: nothing.
    """
    if not failed:
        return
    first = next(iter(failed.values()))
    if len(failed) == 1 and attempted == 1:
        raise first
    lines = "; ".join(f"{name}: {type(cause).__name__}: {cause}" for name, cause in failed.items())
    raise error(f"{len(failed)} of {attempted} {what} failed: {lines}") from first


def for_each(
    names: Sequence[str], action: Callable[[str], T], log: logging.Logger, part: str, parts: str
) -> dict[str, T]:
    """Run ``action`` on each name; a part that fails with a :class:`LakehouseError` is logged and
    the others still run, then the failures are raised together (:func:`raise_collected`).

    Args:
        part, parts: what a name is, for messages (``embedding table``, ``embedding tables``).

    Returns:
        Each name's result.
    """
    results: dict[str, T] = {}
    failed: dict[str, Exception] = {}
    for name in names:
        try:
            results[name] = action(name)
        except LakehouseError as error:
            log.error("%s %s failed: %s", part, name, error)
            failed[name] = error
    raise_collected(failed, len(names), parts, LakehouseError)
    return results


def available_jobs() -> dict[str, str]:
    """Every registered job: name -> ``module:Class``."""
    return {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}


def find_job(name: str) -> type[Job]:
    """Load the job class registered under ``name``, or named ``package.module:JobClass``.

    Raises:
        JobNotFoundError: no job of that name, or its entry point does not load a Job.
    """
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            job = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise JobNotFoundError(f"job {name}: cannot load it ({type(error).__name__}: {error})") from None
        if not (isinstance(job, type) and issubclass(job, Job)):
            raise JobNotFoundError(f"job {name} is not a lakehouse Job class")
        return job
    points = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    if name not in points:
        known = ", ".join(sorted(points)) or "none"
        raise JobNotFoundError(f"no job named {name!r}; registered jobs: {known}")
    job = points[name].load()
    if not (isinstance(job, type) and issubclass(job, Job)):
        raise JobNotFoundError(f"entry point {name} = {points[name].value} is not a lakehouse Job class")
    return job


def build_params(job: type[Job], defaults: Mapping[str, Any], overrides: Mapping[str, str]) -> Any:
    """Build a job's ``Params`` from configured defaults and ``--param`` strings.

    Args:
        job: the job class.
        defaults: ``jobs.<name>.params`` from the configuration (typed YAML values).
        overrides: ``--param key=value`` pairs from the command line (strings).

    Raises:
        JobParameterError: an unknown parameter, or a value that does not convert to the
            parameter's type, or a required parameter with no value.
    """
    fields = {field.name: field for field in dataclasses.fields(job.Params)}
    hints = typing.get_type_hints(job.Params)
    values: dict[str, Any] = {}
    for source, given in (("conf jobs." + job.name + ".params", defaults), ("--param", overrides)):
        for key, raw in given.items():
            if key not in fields:
                known = ", ".join(fields) or "none"
                raise JobParameterError(
                    f"job {job.name}: unknown parameter {key!r} (from {source}); parameters: {known}"
                )
            try:
                values[key] = _convert(raw, hints[key])
            except (TypeError, ValueError) as error:
                raise JobParameterError(
                    f"job {job.name}: parameter {key}={raw!r} (from {source}): {error}"
                ) from None
    try:
        return job.Params(**values)
    except TypeError as error:
        raise JobParameterError(f"job {job.name}: {error}") from None


def params_as_strings(params: Any) -> dict[str, str]:
    """A job's parameters as strings, as recorded in ``ops.job_runs``."""
    return {key: _to_string(value) for key, value in dataclasses.asdict(params).items()}


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _convert(raw: Any, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.lower() in ("", "none", "null")):
            return None
        kind = options[0]
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ValueError("expected a boolean (true/false)")
    if kind is int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError("expected an integer")
        return int(str(raw).replace("_", ""))
    if kind is float:
        return float(raw)
    if kind is str:
        return str(raw)
    if kind is dt.date:
        return raw if isinstance(raw, dt.date) else dt.date.fromisoformat(str(raw))
    raise TypeError(f"parameters of type {kind} are not supported")

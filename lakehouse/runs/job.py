"""What a job is: a named class with typed parameters and a ``run`` method.

Jobs are found through the ``lakehouse.jobs`` entry-point group, so a user's own package
adds jobs by declaring, in its ``pyproject.toml``::

    [project.entry-points."lakehouse.jobs"]
    my_job = "my_package.jobs:MyJob"
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import importlib
import logging
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from lakehouse.config.platform import JobSettings
from lakehouse.errors import ConfigError, JobNotFoundError, JobParameterError, LakehouseError, first_line

if TYPE_CHECKING:
    from lakehouse.config.model import LakehouseConfig
    from lakehouse.runs.context import JobContext

ENTRY_POINT_GROUP = "lakehouse.jobs"
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class NoParams:
    """Parameters of a job that takes none."""


@dataclasses.dataclass(frozen=True)
class Choices:
    """The configured names one job parameter picks from: ``all``, one name or a comma-separated list.

    Attributes:
        names: every name, in declared order (the order the job runs them in).
        declared_in: where the names are declared, for messages (``silver.tables (silver.yml)``).
        aliases: other spellings accepted for a name (``silver.orders`` for ``orders``).
        everything: the names ``all`` (or an empty value) picks; None: every name.
    """

    names: tuple[str, ...]
    declared_in: str
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    everything: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        names: Sequence[str],
        declared_in: str,
        prefix: str = "",
        aliases: Mapping[str, str] | None = None,
        everything: Sequence[str] | None = None,
    ) -> Choices:
        """Choices among ``names``, each also accepted with ``prefix`` (``silver.``) and by ``aliases``.

        Args:
            names: the names, in declared order.
            declared_in: where they are declared, for messages.
            prefix: a prefix a name may be given with, e.g. its layer (``silver.``).
            aliases: other spellings -> name (a table name for the set that writes it).
            everything: what ``all`` picks; default every name.

        Returns:
            The choices.
        """
        spelled = {f"{prefix}{name}": name for name in names} if prefix else {}
        return cls(
            tuple(names),
            declared_in,
            {**spelled, **(aliases or {})},
            None if everything is None else tuple(everything),
        )

    def select(self, wanted: str, param: str, job: str = "") -> list[str]:
        """The names ``wanted`` picks, in declared order.

        Args:
            wanted: the parameter's value: ``all`` (or empty), a name, or a comma-separated list.
            param: the parameter's name, for messages.
            job: the job's name, for messages.

        Returns:
            The names picked, in declared order, each once.

        Raises:
            JobParameterError: a name that is not among the choices, with a did-you-mean and the
                names known.
        """
        if wanted.strip() in ("", "all"):
            return list(self.names if self.everything is None else self.everything)
        picked: set[str] = set()
        problems: list[str] = []
        spellings = [*self.names, *self.aliases]
        for item in (part.strip() for part in wanted.split(",")):
            if not item:
                continue
            name = item if item in self.names else self.aliases.get(item)
            if name is not None:
                picked.add(name)
                continue
            close = difflib.get_close_matches(item, spellings, n=1)
            problems.append(f"{item!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        if problems:
            where = f"job {job}: " if job else ""
            known = ", ".join(self.names) or "none"
            raise JobParameterError(
                f"{where}--param {param}={wanted}: {', '.join(problems)} not in {self.declared_in}; "
                f"known: {known}"
            )
        return [name for name in self.names if name in picked]


class Job(ABC):
    """A unit of work that ``lakehouse run`` and ``spark-submit jobs/<name>.py`` execute.

    Subclasses set ``name``, ``summary`` and ``Params`` (a frozen dataclass whose fields are
    the job's parameters, with defaults) and implement :meth:`run`, which wires
    read -> transform -> check -> write through the context and returns nothing. A job whose
    parameters pick among configured items (sources, tables, models) declares them once in
    :meth:`choices`: the runner refuses an unknown name before Spark starts (:meth:`check`) and
    ``run`` gets the names picked from :meth:`selected`.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type] = NoParams

    @abstractmethod
    def run(self, context: JobContext) -> None:
        """Do the job's work; raise to fail the run."""

    @classmethod
    def choices(cls, config: LakehouseConfig, params: Any) -> dict[str, Choices]:
        """The parameters that name configured items, each with the names it may take.

        Args:
            config: the environment's configuration.
            params: the job's parameters (``all`` may depend on them, e.g. a switch).

        Returns:
            Parameter name -> its :class:`Choices`; none by default.
        """
        return {}

    @classmethod
    def exclusive(cls, config: LakehouseConfig, params: Any) -> list[str]:
        """What a run writes structurally, that no other run may write at the same time.

        The runner locks each before :meth:`run` and releases them after: a second run of a job
        writing one of them fails with ``TableBusyError`` naming the holder (or waits, see
        ``lock_wait_seconds``).

        Args:
            config: the environment's configuration.
            params: the job's parameters (checked).

        Returns:
            Table names (``silver.orders``), or indexes
            (:func:`lakehouse.runs.guard.index_target`); none by default.
        """
        return []

    @classmethod
    def check(cls, config: LakehouseConfig, params: Any) -> None:
        """Refuse parameters that do not fit the configuration, before Spark starts.

        The default checks each parameter of :meth:`choices`; a job may add checks of its own
        (calling this one too). Called by the job runner and the pipeline runner's plan.

        Args:
            config: the environment's configuration.
            params: the job's parameters.

        Raises:
            JobParameterError: an unknown name (with a did-you-mean), or another bad value.
        """
        for param in cls.choices(config, params):
            cls.selected(config, params, param)

    @classmethod
    def selected(cls, config: LakehouseConfig, params: Any, param: str) -> list[str]:
        """The configured names that parameter ``param`` picks, in declared order.

        Args:
            config: the environment's configuration.
            params: the job's parameters.
            param: a parameter of :meth:`choices`.

        Returns:
            The names picked.

        Raises:
            JobParameterError: an unknown name.
        """
        return cls.choices(config, params)[param].select(str(getattr(params, param)), param, cls.name)


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

    One part attempted and failed: its own error. Several: ``error`` naming each failed part (an
    engine's error by its first line, never its Java trace), with the first failure as the cause.
    Nothing failed: nothing.
    """
    if not failed:
        return
    first = next(iter(failed.values()))
    if len(failed) == 1 and attempted == 1:
        raise first
    lines = "; ".join(f"{name}: {type(cause).__name__}: {_message(cause)}" for name, cause in failed.items())
    raise error(f"{len(failed)} of {attempted} {what} failed: {lines}") from first


def for_each(
    names: Sequence[str],
    action: Callable[[str], T],
    log: logging.Logger,
    part: str,
    parts: str,
    error: type[LakehouseError] = LakehouseError,
) -> dict[str, T]:
    """Run ``action`` on each name, the one loop of every job over its parts (sources, tables,
    models): a part that fails is logged and the others still run, then the failures are raised
    together (:func:`raise_collected`), so one bad part never holds back the parts that do not
    depend on it.

    Args:
        part, parts: what a name is, for messages (``embedding table``, ``embedding tables``).
        error: the error raised when several parts fail (e.g. :class:`IngestError`).

    Returns:
        Each name's result, for the parts that succeeded (all of them, when it returns).
    """
    results: dict[str, T] = {}
    failed: dict[str, Exception] = {}
    for name in names:
        try:
            results[name] = action(name)
        except Exception as caught:  # an engine's error too: the other parts still run
            told = (
                _message(caught)
                if isinstance(caught, LakehouseError)
                else f"{type(caught).__name__}: {_message(caught)}"
            )
            log.error("%s %s failed: %s", part, name, told)
            failed[name] = caught
    raise_collected(failed, len(names), parts, error)
    return results


def _message(error: Exception) -> str:
    """An error's message: ours whole (written for the user), an engine's first line (its Java
    trace stays out of the terminal)."""
    return str(error) if isinstance(error, LakehouseError) else first_line(str(error))


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


def prepare_params(job: type[Job], config: LakehouseConfig, name: str, overrides: Mapping[str, str]) -> Any:
    """A job's parameters, built from the configuration and ``--param`` strings, and checked
    against the configuration: everything that can be refused before Spark starts.

    Args:
        job: the job class.
        config: the environment's configuration (``jobs.<name>.params`` gives the defaults).
        name: the name the job was asked for (its registered name or ``module:Class``).
        overrides: ``--param key=value`` pairs.

    Returns:
        The job's ``Params``.

    Raises:
        JobParameterError: an unknown parameter, a value of the wrong type, or a value that names
            something the configuration does not declare.
    """
    params = build_params(job, config.jobs.get(name, JobSettings()).params, overrides)
    job.check(config, params)
    return params


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
                close = difflib.get_close_matches(key, list(fields), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise JobParameterError(
                    f"job {job.name}: unknown parameter {key!r} (from {source}){hint}; parameters: {known}"
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


def param_defaults(job: type[Job]) -> dict[str, Any]:
    """A job's parameters and their defaults, the one place they are declared (its ``Params``);
    a parameter without a default is left out (it must be given)."""
    found = {}
    for field in dataclasses.fields(job.Params):
        if field.default is not dataclasses.MISSING:
            found[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            found[field.name] = field.default_factory()
    return found


def params_as_strings(params: Any) -> dict[str, str]:
    """A job's parameters (its ``Params``, or a mapping of them) as strings, as recorded in
    ``ops.job_runs`` and given to ``--param``."""
    values = params if isinstance(params, Mapping) else dataclasses.asdict(params)
    return {key: _to_string(value) for key, value in values.items()}


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

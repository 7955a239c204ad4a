"""Services a pipeline needs running before its jobs: a development database, a mock API.

A service is registered, like a job, under a name in the ``lakehouse.services`` entry-point group
of any installed package: the name points to a factory that takes the loaded configuration and
returns a :class:`Service`. A pipeline names the services it needs (``services: [name]`` in
pipelines.yml); the runner starts them before its first task, and ``lakehouse service up|down|status
<name>`` runs one by hand. The framework knows no service by name: the demo registers its
PostgreSQL server as ``local_database``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Protocol

from lakehouse.config.model import LakehouseConfig
from lakehouse.errors import ConfigError

ENTRY_POINT_GROUP = "lakehouse.services"


class Service(Protocol):
    """A process a pipeline's jobs talk to; each call returns one line for the terminal."""

    def start(self) -> str:
        """Start it, or leave it running when it is (idempotent); where it listens."""
        ...

    def stop(self) -> str:
        """Stop it when it runs."""
        ...

    def status(self) -> str:
        """Whether it runs, and where."""
        ...


def available_services() -> dict[str, str]:
    """Every registered service: name -> ``module:factory``."""
    return {point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)}


def load_service(name: str, config: LakehouseConfig) -> Service:
    """The service registered under ``name``, for this configuration.

    Raises:
        ConfigError: no package registers a service of that name.
    """
    points = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    if name not in points:
        known = ", ".join(sorted(points)) or "none"
        raise ConfigError(f"no service named {name!r} ({ENTRY_POINT_GROUP}); registered: {known}")
    factory: Callable[[LakehouseConfig], Service] = points[name].load()
    return factory(config)


def start_services(names: list[str], config: LakehouseConfig, out: Callable[[str], None]) -> None:
    """Start the named services in order, printing where each listens."""
    for name in names:
        out(load_service(name, config).start())

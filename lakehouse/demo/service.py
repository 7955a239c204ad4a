"""The demo's PostgreSQL as a pipeline service: the server of ``local_database:`` in the
configuration, registered as ``local_database`` in the entry points ``lakehouse.services``."""

from __future__ import annotations

from lakehouse.config.model import LakehouseConfig
from lakehouse.demo.postgres import LocalPostgres, parse_jdbc_url
from lakehouse.errors import ConfigError


def local_server(config: LakehouseConfig) -> LocalPostgres:
    """The server of ``local_database:``, listening where its connection's JDBC URL points.

    Raises:
        ConfigError: ``local_database.connection`` is not a connection of sources.yml, or its URL is
            not a PostgreSQL JDBC URL.
    """
    settings = config.local_database
    if settings.connection not in config.connections:
        raise ConfigError(f"local_database.connection: no connection {settings.connection!r} in sources.yml")
    connection = config.connections[settings.connection]
    try:
        host, port, database = parse_jdbc_url(connection.url)
    except ValueError as error:
        raise ConfigError(f"connections.{settings.connection}.url: {error}") from None
    return LocalPostgres(
        config.resolve_path(settings.data_dir), port, host, database, connection.user or "lakehouse"
    )


class LocalDatabaseService:
    """The server of ``local_database:`` as a pipeline service, registered as ``local_database``
    (entry points ``lakehouse.services``): ``services: [local_database]`` in pipelines.yml starts
    it before the jobs, ``lakehouse db up`` by hand."""

    def __init__(self, config: LakehouseConfig):
        self.server = local_server(config)

    def start(self) -> str:
        self.server.start()
        return f"PostgreSQL up: {self.server.jdbc_url} (user {self.server.user}; data {self.server.data_dir})"

    def stop(self) -> str:
        return "PostgreSQL stopped" if self.server.stop() else "PostgreSQL was not running"

    def status(self) -> str:
        status = self.server.status()
        state = f"running, pid {status.pid}" if status.running else "stopped"
        return f"PostgreSQL {self.server.jdbc_url}: {state}; log {status.log_file}"

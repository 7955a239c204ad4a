"""JDBC I/O: the one place that reads from and writes to relational databases.

A :class:`JdbcConnection` carries a configured connection (``connections.<name>``) with its
password from the environment; its ``repr`` never shows the password. Reads and writes go
through Spark's JDBC source; :func:`execute` runs statements (DDL, upserts) on the driver in
one transaction, through the JDBC driver that Spark loaded from ``spark.jars``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from lakehouse.config.model import LakehouseConfig
from lakehouse.errors import ConfigError, DatabaseError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


@dataclass(frozen=True)
class JdbcConnection:
    """A database reached over JDBC.

    Attributes:
        name: the configured connection name (named in every error).
        url: the JDBC URL, without credentials.
        user: the database user, if the server asks for one.
        password: the password (from the environment); never printed.
        driver: the JDBC driver class.
        properties: extra JDBC properties (``sslmode``, ``connectTimeout``, ...).
    """

    name: str
    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    driver: str = "org.postgresql.Driver"
    properties: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: LakehouseConfig, name: str) -> JdbcConnection:
        """The connection ``connections.<name>`` of a configuration.

        Raises:
            ConfigError: no connection of that name.
        """
        if name not in config.connections:
            known = ", ".join(sorted(config.connections)) or "none"
            raise ConfigError(f"connections.{name}: no such connection; connections: {known}")
        settings = config.connections[name]
        password = settings.password.get_secret_value() if settings.password is not None else None
        return cls(
            name=name,
            url=settings.url,
            user=settings.user or None,
            password=password or None,
            driver=settings.driver,
            properties={key: str(value) for key, value in settings.properties.items()},
        )

    def options(self) -> dict[str, str]:
        """Options for Spark's JDBC reader and writer (credentials included: never log them)."""
        options = {"url": self.url, "driver": self.driver, **self.properties}
        if self.user:
            options["user"] = self.user
        if self.password:
            options["password"] = self.password
        return options

    def describe(self) -> str:
        """The connection as it may be printed: name and URL, no credentials."""
        return f"connection {self.name} ({self.url})"


def read(
    spark: SparkSession,
    connection: JdbcConnection,
    *,
    dbtable: str | None = None,
    query: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> DataFrame:
    """Read a table or the result of a query.

    Args:
        dbtable: a table (``schema.table``) or a parenthesised subquery with an alias.
        query: a SELECT statement (Spark wraps it as a subquery).
        options: further reader options (``fetchsize``, ``partitionColumn``, ...).

    Raises:
        DatabaseError: the database refused the connection or the statement.
    """
    if (dbtable is None) == (query is None):
        raise ValueError(f"read from {connection.describe()}: give exactly one of dbtable and query")
    reader = spark.read.format("jdbc").options(**connection.options())
    reader = reader.options(**{key: str(value) for key, value in (options or {}).items()})
    reader = reader.option("dbtable", dbtable) if dbtable is not None else reader.option("query", query)
    what = f"table {dbtable}" if dbtable is not None else f"query {query}"
    try:
        return reader.load()  # resolves the schema: connects once
    except Exception as error:
        raise DatabaseError(f"{connection.describe()}: cannot read {what}: {_reason(error)}") from error


def write(
    frame: DataFrame,
    connection: JdbcConnection,
    table: str,
    mode: str = "append",
    options: Mapping[str, Any] | None = None,
) -> None:
    """Write a DataFrame into a database table (``append`` or ``overwrite``).

    Raises:
        DatabaseError: the database refused the connection or the rows.
    """
    _check_identifier(table, connection)
    writer = frame.write.format("jdbc").mode(mode).options(**connection.options()).option("dbtable", table)
    writer = writer.options(**{key: str(value) for key, value in (options or {}).items()})
    try:
        writer.save()
    except Exception as error:
        raise DatabaseError(
            f"{connection.describe()}: cannot write table {table}: {_reason(error)}"
        ) from error


def execute(spark: SparkSession, connection: JdbcConnection, statements: Sequence[str]) -> list[int]:
    """Run SQL statements on the driver, in one transaction (all or nothing).

    Returns:
        The update count of each statement (-1 for statements that return rows or nothing).

    Raises:
        DatabaseError: a statement failed; the transaction was rolled back.
    """
    jvm = spark.sparkContext._jvm
    properties = jvm.java.util.Properties()
    for key, value in connection.options().items():
        if key not in ("url", "driver"):
            properties.setProperty(key, value)
    try:
        # the driver came with spark.jars, which DriverManager's class loader does not see
        loader = jvm.org.apache.spark.util.Utils.getContextOrSparkClassLoader()
        driver_class = jvm.java.lang.Class.forName(connection.driver, True, loader)
        gateway = spark.sparkContext._gateway
        no_arguments = gateway.new_array(jvm.java.lang.Object, 0)
        driver = driver_class.getDeclaredConstructor(gateway.new_array(jvm.java.lang.Class, 0)).newInstance(
            no_arguments
        )
        link = driver.connect(connection.url, properties)
    except Exception as error:
        raise DatabaseError(f"{connection.describe()}: cannot connect: {_reason(error)}") from error
    if link is None:
        raise DatabaseError(f"{connection.describe()}: driver {connection.driver} does not accept this URL")
    counts = []
    try:
        link.setAutoCommit(False)
        statement = link.createStatement()
        for sql in statements:
            try:
                counts.append(-1 if statement.execute(sql) else statement.getUpdateCount())
            except Exception as error:
                link.rollback()
                raise DatabaseError(
                    f"{connection.describe()}: statement failed, transaction rolled back: "
                    f"{_reason(error)}\n  statement: {sql.strip()[:500]}"
                ) from error
        link.commit()
    finally:
        link.close()
    return counts


def upsert(
    spark: SparkSession, frame: DataFrame, connection: JdbcConnection, table: str, keys: Sequence[str]
) -> None:
    """Insert or update rows of a PostgreSQL table by its primary key (``ON CONFLICT``).

    The rows are staged in a scratch table with Spark's JDBC writer, then merged into
    ``table`` in one transaction; the scratch table is dropped afterwards. ``table`` needs a
    unique constraint on ``keys``, and ``frame`` one row per key (PostgreSQL refuses to update
    a row twice in one statement): reduce it with ``latest_per_key`` first.
    """
    _check_identifier(table, connection)
    for column in [*keys, *frame.columns]:
        _check_identifier(column, connection)
    staging = f"{table}__staging"
    write(frame, connection, staging, mode="overwrite")
    columns = ", ".join(frame.columns)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in frame.columns if column not in keys)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    execute(
        spark,
        connection,
        [
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} "
            f"ON CONFLICT ({', '.join(keys)}) {action}",
            f"DROP TABLE {staging}",
        ],
    )


def _check_identifier(name: str, connection: JdbcConnection) -> None:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{connection.describe()}: {name!r} is not a plain SQL identifier")


def _reason(error: Exception) -> str:
    """The database's own message, without the Java stack trace."""
    text = str(error)
    for line in text.splitlines():
        line = line.strip()
        if "Exception:" in line:
            return line.split("Exception:", 1)[1].strip() or line
    return text.splitlines()[0] if text else type(error).__name__

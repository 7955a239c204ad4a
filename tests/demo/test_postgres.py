"""The local PostgreSQL server: start, stop, status, psql, a taken port, and Spark's JDBC source on it."""

from __future__ import annotations

import datetime
import re
import socket
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql.types import DateType, DecimalType, IntegerType, StringType, StructField, StructType
from pyspark.testing import assertDataFrameEqual

import lakehouse.demo.postgres as postgres_module
from lakehouse.demo.postgres import LocalPostgres, parse_jdbc_url
from lakehouse.errors import DatabaseError
from lakehouse.processes import descendants, listening_sockets
from tests.postgres_server import free_loopback_port

# starts server processes; the `postgres` and `postgres_binaries` fixtures skip them where PostgreSQL
# is not installed (unless LAKEHOUSE_REQUIRE_POSTGRES is set)
server_test = pytest.mark.slow


def test_jdbc_url_names_host_port_and_database(tmp_path):
    server = LocalPostgres(tmp_path / "pg", port=5433)
    assert server.jdbc_url == "jdbc:postgresql://127.0.0.1:5433/shop"
    assert parse_jdbc_url(server.jdbc_url) == ("127.0.0.1", 5433, "shop")
    ipv6 = LocalPostgres(tmp_path / "pg", port=5433, host="::1")
    assert ipv6.jdbc_url == "jdbc:postgresql://[::1]:5433/shop"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("jdbc:postgresql://db.example.com:6543/sales", ("db.example.com", 6543, "sales")),
        ("jdbc:postgresql://localhost/sales", ("localhost", 5432, "sales")),
        ("jdbc:postgresql://[::1]:5433/sales?sslmode=disable", ("::1", 5433, "sales")),
    ],
)
def test_parse_jdbc_url(url, expected):
    assert parse_jdbc_url(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://host:5432/db", "not a PostgreSQL JDBC URL"),
        ("jdbc:mysql://host:3306/db", "not a PostgreSQL JDBC URL"),
        ("jdbc:postgresql://host:port/db", "invalid port"),
        ("jdbc:postgresql://host:5432/", "no database"),
        ("jdbc:postgresql://:5432/db", "no host"),
        ("jdbc:postgresql://me:secret@host:5432/db", "carries credentials"),
    ],
)
def test_parse_jdbc_url_refuses_other_urls(url, problem):
    with pytest.raises(ValueError, match=problem):
        parse_jdbc_url(url)


def test_arguments_are_checked_before_any_work(tmp_path):
    with pytest.raises(TypeError, match="port must be an int"):
        LocalPostgres(tmp_path, port="5432")
    with pytest.raises(ValueError, match="between 1 and 65535"):
        LocalPostgres(tmp_path, port=70000)
    with pytest.raises(ValueError, match="loopback"):
        LocalPostgres(tmp_path, port=5432, host="0.0.0.0")
    with pytest.raises(ValueError, match="user must be a lower-case identifier"):
        LocalPostgres(tmp_path, port=5432, user="Robert'); DROP TABLE students;--")
    assert not list(tmp_path.iterdir())


def test_missing_binaries_say_how_to_install_them(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres_module, "DEBIAN_POSTGRES_ROOT", tmp_path / "nothing")
    with pytest.raises(DatabaseError, match=r"apt-get install -y postgresql"):
        LocalPostgres.binaries()


@server_test
def test_the_server_runs_as_described(postgres):
    status = postgres.status()
    assert status.running and postgres.is_running()
    assert status.port == postgres.port
    assert Path(f"/proc/{status.pid}").exists()
    # the unix socket lives in the data folder, not in /var/run/postgresql
    assert (postgres.data_dir / f".s.PGSQL.{postgres.port}").is_socket()
    listen_address = (postgres.cluster_dir / "postmaster.pid").read_text().splitlines()[5]
    assert listen_address == "127.0.0.1"
    # and the only TCP socket its processes listen on is that loopback address and port
    sockets = listening_sockets(descendants(status.pid))
    assert {(address, port) for _, address, port in sockets} == {("127.0.0.1", postgres.port)}


@server_test
def test_psql_runs_sql_as_the_user_in_the_database(postgres):
    assert postgres.psql("SELECT current_user, current_database()") == "lakehouse|shop\n"
    output = postgres.psql(
        "CREATE TABLE psql_round_trip (id int PRIMARY KEY, name text);"
        "INSERT INTO psql_round_trip VALUES (1, 'ada'), (2, 'grace');"
        "SELECT id, name FROM psql_round_trip ORDER BY id;"
        "DROP TABLE psql_round_trip;"
    )
    assert output == "1|ada\n2|grace\n"


@server_test
def test_a_failing_statement_raises_with_the_server_message(postgres):
    with pytest.raises(DatabaseError, match=r'relation "no_such_table" does not exist'):
        postgres.psql("SELECT * FROM no_such_table")


@server_test
def test_start_again_keeps_the_running_server(postgres):
    before = postgres.status().pid
    postgres.start()
    assert postgres.status().pid == before


@server_test
def test_a_port_taken_by_another_program_is_refused_by_number(postgres_binaries, tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        server = LocalPostgres(tmp_path / "pg", port=port)
        with pytest.raises(DatabaseError, match=rf"port {port} on 127.0.0.1 is taken by another program"):
            server.start()
    assert not server.cluster_dir.exists()


@server_test
def test_a_second_server_on_the_same_port_is_refused(postgres, tmp_path):
    with pytest.raises(DatabaseError, match=rf"port {postgres.port} .* taken"):
        LocalPostgres(tmp_path / "other", port=postgres.port).start()


@server_test
def test_stop_is_idempotent_and_a_restart_keeps_the_data(postgres_binaries, tmp_path):
    server = LocalPostgres(tmp_path / "pg", port=free_loopback_port())
    server.start()
    try:
        server.psql("CREATE TABLE kept (id int); INSERT INTO kept VALUES (7);")

        assert server.stop() is True
        assert not server.is_running() and server.status().pid is None
        assert not (server.data_dir / f".s.PGSQL.{server.port}").exists()
        with socket.socket() as probe:
            # free again; SO_REUSEADDR as any server sets it: closed connections may linger in TIME_WAIT
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", server.port))
        assert server.stop() is False

        server.start()
        assert server.psql("SELECT id FROM kept") == "7\n"
    finally:
        server.stop()


@server_test
def test_a_server_that_cannot_start_names_its_log_file(postgres_binaries, tmp_path):
    server = LocalPostgres(tmp_path / "pg", port=free_loopback_port())
    server.start()
    server.stop()
    with open(server.cluster_dir / "postgresql.conf", "a") as settings:
        settings.write("no_such_setting = 1\n")

    log_file = re.escape(str(server.log_file))
    expected = rf"PostgreSQL server on 127.0.0.1:{server.port} did not start.*see its log {log_file}"
    with pytest.raises(DatabaseError, match=expected):
        server.start()
    assert not server.is_running()


@server_test
def test_spark_writes_and_reads_a_table_over_jdbc(postgres, spark):
    schema = StructType(
        [
            StructField("order_id", IntegerType()),
            StructField("customer", StringType()),
            StructField("amount", DecimalType(10, 2)),
            StructField("ordered_on", DateType()),
        ]
    )
    orders = spark.createDataFrame(
        [
            (1, "ada", Decimal("12.50"), datetime.date(2024, 1, 2)),
            (2, "grace", Decimal("7.00"), datetime.date(2024, 1, 3)),
            (3, None, None, None),
        ],
        schema,
    )
    options = {"url": postgres.jdbc_url, "user": postgres.user, "driver": "org.postgresql.Driver"}

    orders.write.format("jdbc").options(**options, dbtable="spark_orders").mode("overwrite").save()
    read_back = spark.read.format("jdbc").options(**options, dbtable="spark_orders").load()

    assertDataFrameEqual(read_back, orders)
    assert postgres.psql("SELECT count(*), sum(amount) FROM spark_orders") == "3|19.50\n"

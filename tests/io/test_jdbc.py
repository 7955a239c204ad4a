"""JDBC I/O against a real PostgreSQL server: read, write, transactional execute, upsert."""

from __future__ import annotations

import uuid

import pytest

from lakehouse.config import ConnectionSettings, LakehouseConfig
from lakehouse.errors import ConfigError, DatabaseError
from lakehouse.io import jdbc


@pytest.fixture
def connection(postgres):
    return jdbc.JdbcConnection("test", postgres.jdbc_url, user=postgres.user)


@pytest.fixture
def table(postgres):
    name = f"items_{uuid.uuid4().hex[:8]}"
    postgres.psql(f"CREATE TABLE {name} (id bigint PRIMARY KEY, label text)")
    yield name
    postgres.psql(f"DROP TABLE IF EXISTS {name}")


def test_write_then_read_a_table_and_a_query(spark, connection, table):
    jdbc.write(spark.createDataFrame([(1, "a"), (2, "b")], "id bigint, label string"), connection, table)

    assert sorted(tuple(r) for r in jdbc.read(spark, connection, dbtable=table).collect()) == [
        (1, "a"),
        (2, "b"),
    ]
    query = f"SELECT label FROM {table} WHERE id = 2"
    assert jdbc.read(spark, connection, query=query).first()["label"] == "b"


def test_execute_runs_in_one_transaction(spark, connection, table, postgres):
    with pytest.raises(DatabaseError, match=r"connection test .*rolled back.*no_such_table"):
        jdbc.execute(spark, connection, [f"INSERT INTO {table} VALUES (1, 'a')", "DELETE FROM no_such_table"])

    assert postgres.psql(f"SELECT count(*) FROM {table}").strip() == "0"
    assert jdbc.execute(spark, connection, [f"INSERT INTO {table} VALUES (1, 'a'), (2, 'b')"]) == [2]


def test_upsert_inserts_new_keys_and_updates_existing_ones(spark, connection, table, postgres):
    postgres.psql(f"INSERT INTO {table} VALUES (1, 'old'), (2, 'kept')")

    changes = spark.createDataFrame([(1, "new"), (3, "added")], "id bigint, label string")
    jdbc.upsert(spark, changes, connection, table, ["id"])
    jdbc.upsert(spark, changes, connection, table, ["id"])  # again: same state

    rows = jdbc.read(spark, connection, dbtable=table).orderBy("id").collect()
    assert [tuple(r) for r in rows] == [(1, "new"), (2, "kept"), (3, "added")]


def test_a_refused_connection_names_it_without_credentials(spark, postgres):
    wrong = jdbc.JdbcConnection(
        "shop_db", f"{postgres.jdbc_url}_missing", user="nobody", password="s3cret-pw"
    )
    with pytest.raises(DatabaseError, match=r"connection shop_db \(jdbc:postgresql://") as raised:
        jdbc.read(spark, wrong, dbtable="anything")
    assert "s3cret-pw" not in str(raised.value) and "s3cret-pw" not in repr(wrong)


def test_connections_come_from_the_configuration(session_config: LakehouseConfig):
    config = session_config.model_copy(
        update={"connections": {"shop_db": ConnectionSettings(url="jdbc:postgresql://h:5432/shop", user="u")}}
    )
    assert jdbc.JdbcConnection.from_config(config, "shop_db").options()["user"] == "u"
    with pytest.raises(ConfigError, match=r"connections\.crm: no such connection; connections: shop_db"):
        jdbc.JdbcConnection.from_config(config, "crm")

"""Database sources: rows changed since the last run, read once, from a real PostgreSQL server."""

from __future__ import annotations

import uuid

import pytest

from lakehouse.config import ConnectionSettings
from lakehouse.errors import IngestError, SchemaDriftError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.storage.layout import StorageLayout
from tests.ingest.conftest import ingest, with_sources


@pytest.fixture
def customers(postgres):
    """A fresh source table of customers in the shared server; its name."""
    name = f"customers_{uuid.uuid4().hex[:8]}"
    postgres.psql(
        f"CREATE TABLE {name} (customer_id bigint PRIMARY KEY, email text, updated_at timestamp NOT NULL);"
        f"INSERT INTO {name} VALUES (1, 'a@x.io', '2026-01-01 10:00:00'), (2, NULL, '2026-01-01 11:30:00.5');"
    )
    yield name
    postgres.psql(f"DROP TABLE IF EXISTS {name}")


def database_config(config, postgres, **source):
    connection = ConnectionSettings(url=postgres.jdbc_url, user=postgres.user)
    config = config.model_copy(update={"connections": {"shop_db": connection}})
    return with_sources(config, customers={"format": "jdbc", "connection": "shop_db", **source})


def bronze(spark, config):
    return DeltaStore(spark, StorageLayout.from_config(config)).read("bronze.customers")


def test_only_rows_changed_since_the_last_run_are_read(
    lakehouse_session, lakehouse_config, postgres, customers
):
    spark = lakehouse_session
    config = database_config(lakehouse_config, postgres, dbtable=customers, watermark="updated_at")

    first = ingest(spark, config, "customers")
    assert first.rows == 2
    assert ingest(spark, config, "customers").rows == 0  # same watermark: nothing new

    postgres.psql(
        f"UPDATE {customers} SET email = 'b@x.io', updated_at = '2026-01-02 09:00:00' WHERE customer_id = 2;"
        f"INSERT INTO {customers} VALUES (3, 'c@x.io', '2026-01-02 09:00:00');"
    )
    second = ingest(spark, config, "customers")

    assert second.rows == 2
    assert "updated_at > 2026-01-01 11:30:00.500000" in second.detail
    table = bronze(spark, config)
    assert table.count() == 4  # bronze keeps every version; silver picks the latest
    latest = table.where("customer_id = 2").orderBy("updated_at", ascending=False).first()
    assert latest["email"] == "b@x.io" and latest["_source"] == "customers"
    assert latest["_source_query"].startswith(f"SELECT * FROM {customers} WHERE updated_at > ")
    assert ingest(spark, config, "customers").rows == 0


def test_a_query_source_and_a_numeric_watermark(lakehouse_session, lakehouse_config, postgres, customers):
    spark = lakehouse_session
    config = database_config(
        lakehouse_config,
        postgres,
        query=f"SELECT customer_id, email FROM {customers} WHERE email IS NOT NULL",
        watermark="customer_id",
    )

    assert ingest(spark, config, "customers").rows == 1
    postgres.psql(f"INSERT INTO {customers} VALUES (7, 'g@x.io', now())")
    assert ingest(spark, config, "customers").rows == 1
    assert sorted(r["customer_id"] for r in bronze(spark, config).collect()) == [1, 7]


def test_an_unknown_watermark_column_names_the_source_and_columns(
    lakehouse_session, lakehouse_config, postgres, customers
):
    config = database_config(lakehouse_config, postgres, dbtable=customers, watermark="changed_at")
    with pytest.raises(IngestError, match=r"source customers: watermark column 'changed_at' .*updated_at"):
        ingest(lakehouse_session, config, "customers")


def test_a_new_source_column_follows_the_drift_policy(
    lakehouse_session, lakehouse_config, postgres, customers
):
    spark = lakehouse_session
    config = database_config(
        lakehouse_config, postgres, dbtable=customers, watermark="updated_at", drift="fail"
    )
    ingest(spark, config, "customers")
    postgres.psql(
        f"ALTER TABLE {customers} ADD COLUMN phone text;"
        f"INSERT INTO {customers} VALUES (4, 'd@x.io', '2026-02-01 00:00:00', '+1 555');"
    )

    with pytest.raises(
        SchemaDriftError, match=r"table bronze\.customers: schema drift \(new columns \['phone'\]"
    ):
        ingest(spark, config, "customers")
    evolving = database_config(lakehouse_config, postgres, dbtable=customers, watermark="updated_at")
    assert ingest(spark, evolving, "customers").rows == 1
    assert bronze(spark, config).where("customer_id = 4").first()["phone"] == "+1 555"

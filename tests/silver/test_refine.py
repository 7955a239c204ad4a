"""The silver_refine job on small bronze tables: incremental, idempotent, checked, replayable."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from lakehouse.config.model import LakehouseConfig
from lakehouse.config.silver import SilverSettings
from lakehouse.errors import ConfigError, QualityError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.io.table_spec import TableSpec
from lakehouse.quality.records import RESULTS_TABLE
from lakehouse.runs.runner import JobFailedError, run_job
from lakehouse.storage.layout import StorageLayout

T1, T2, T3 = (dt.datetime(2026, 1, day, 12) for day in (1, 2, 3))
ORDERS_BRONZE = (
    "order_id bigint, customer_id bigint, status string, amount double, updated_at timestamp, "
    "_corrupt_record string, _ingested_at timestamp"
)
CUSTOMERS_BRONZE = "customer_id bigint, email string, updated_at timestamp, _ingested_at timestamp"
SILVER = {
    "tables": {
        "customers": {
            "source": "bronze.customers",
            "key": ["customer_id"],
            "order_by": "updated_at",
            "history": "scd2",
            "columns": {"customer_id": None, "email": {"normalise": ["lower"]}, "updated_at": None},
        },
        "orders": {
            "source": "bronze.orders",
            "key": ["order_id"],
            "order_by": "updated_at",
            "columns": {
                "order_id": None,
                "customer_id": None,
                "status": {"normalise": ["lower"]},
                "amount": {"type": "decimal(10,2)"},
                "updated_at": None,
            },
        },
    }
}
ORDERS_SUITE = """
expectations:
  - {kind: is_null, name: malformed_record, column: _corrupt_record, severity: drop}
  - {kind: not_null, column: customer_id, severity: drop}
  - {kind: unique, columns: [order_id], severity: fail}
  - {kind: in_set, column: status, values: %s, severity: drop}
  - {kind: between, column: amount, min: 0, severity: %s}
  - {kind: references, name: known_customer, column: customer_id, table: silver.customers, to: customer_id,
     severity: drop}
"""
STATUSES = "[placed, paid, shipped]"


def configured(config: LakehouseConfig, tmp_path: Path, statuses=STATUSES, amount="warn") -> LakehouseConfig:
    """``config`` with the two silver tables above and their suites in a conf folder of its own."""
    quality = tmp_path / "conf" / "base" / "quality"
    quality.mkdir(parents=True, exist_ok=True)
    (quality / "silver.orders.yml").write_text(ORDERS_SUITE % (statuses, amount))
    (quality / "silver.customers.yml").write_text(
        "expectations:\n  - {kind: not_null, column: customer_id, severity: drop}\n"
    )
    return config.model_copy(
        update={"silver": SilverSettings.model_validate(SILVER), "conf_dir": tmp_path / "conf"}
    )


def land(spark, config: LakehouseConfig, table: str, rows: list[tuple], schema: str) -> None:
    """Append rows to a bronze table (change data feed on, as bronze_ingest creates them)."""
    frame = spark.createDataFrame(rows, schema)
    spec = TableSpec(table, frame.schema, properties={"delta.enableChangeDataFeed": "true"}, drift="evolve")
    DeltaStore(spark, StorageLayout.from_config(config)).append(table, frame, spec=spec)


def read(spark, config: LakehouseConfig, table: str):
    return DeltaStore(spark, StorageLayout.from_config(config)).read(table)


def version(spark, config: LakehouseConfig, table: str) -> int:
    return DeltaStore(spark, StorageLayout.from_config(config)).version(table)


def day_one(spark, config: LakehouseConfig) -> None:
    land(spark, config, "bronze.customers", [(1, "A@x.io", T1, T1), (2, "b@x.io", T1, T1)], CUSTOMERS_BRONZE)
    orders = [
        (10, 1, "placed", 5.0, T1, None, T1),
        (10, 1, "placed", 5.0, T1, None, T1),  # exact duplicate
        (10, 1, "Shipped", 5.0, T2, None, T1),  # late update: wins
        (11, 2, "paid", 7.0, T1, None, T1),
        (12, 3, "paid", 1.0, T1, None, T1),  # customer 3 is not known yet
        (13, 1, "lost", 2.0, T1, None, T1),  # status not in the set
        (14, None, "paid", 2.0, T1, None, T1),  # no customer
        (15, 1, "paid", -3.0, T1, None, T1),  # negative amount: a warning, kept
        (None, None, None, None, None, '16,1,"paid', T1),  # malformed line
    ]
    land(spark, config, "bronze.orders", orders, ORDERS_BRONZE)


def test_refine_conforms_collapses_quarantines_and_records(spark, lakehouse_config, tmp_path):
    config = configured(lakehouse_config, tmp_path)
    day_one(spark, config)

    run = run_job("silver_refine", config, spark=spark)

    orders = {row["order_id"]: row for row in read(spark, config, "silver.orders").collect()}
    assert sorted(orders) == [10, 11, 15]
    assert orders[10]["status"] == "shipped"  # the latest version, case normalised
    assert "_corrupt_record" not in read(spark, config, "silver.orders").columns
    quarantine = {
        row["order_id"]: row for row in read(spark, config, "quarantine.orders").collect() if row["order_id"]
    }
    assert {key: sorted(row["_failed_expectations"]) for key, row in quarantine.items()} == {
        12: ["known_customer"],
        13: ["in_set_status"],
        14: ["not_null_customer_id"],
    }
    assert quarantine[13]["status"] == "lost" and quarantine[13]["_quarantine_run_id"] == run.run_id
    malformed = read(spark, config, "quarantine.orders").where("order_id IS NULL").collect()
    assert [row["_corrupt_record"] for row in malformed] == ['16,1,"paid']
    assert "malformed_record" in malformed[0]["_failed_expectations"]
    results = read(spark, config, RESULTS_TABLE).where(f"run_id = '{run.run_id}' AND table = 'silver.orders'")
    by_name = {row["expectation"]: row for row in results.collect()}
    assert len(by_name) == 6
    assert (by_name["between_amount"]["success"], by_name["between_amount"]["unexpected_count"]) == (False, 1)
    assert by_name["unique_order_id"]["success"]
    assert by_name["known_customer"]["unexpected_count"] == 1
    assert run.rows_written["silver.orders"] == 3 and run.rows_written["quarantine.orders"] == 4


def test_a_full_refresh_or_lost_progress_quarantines_no_row_twice(spark, lakehouse_config, tmp_path):
    config = configured(lakehouse_config, tmp_path)
    day_one(spark, config)
    first = run_job("silver_refine", config, spark=spark)
    assert first.rows_written["quarantine.orders"] == 4

    # bronze moves on (one clean row), then the documented full refresh reads it whole again, then
    # ops.table_progress is lost and the next run reads it whole too
    land(spark, config, "bronze.orders", [(20, 2, "paid", 9.0, T3, None, T3)], ORDERS_BRONZE)
    refresh = run_job("silver_refine", config, spark=spark, params={"full_refresh": "true"})
    layout = StorageLayout.from_config(config)
    shutil.rmtree(layout.table("ops.table_progress").location)
    lost = run_job("silver_refine", config, spark=spark)

    for run in (refresh, lost):
        assert run.rows_written.get("quarantine.orders", 0) == 0
    quarantine = read(spark, config, "quarantine.orders")
    assert quarantine.count() == 4 and quarantine.select("_quarantine_id").distinct().count() == 4
    assert {row["_quarantine_run_id"] for row in quarantine.collect()} == {first.run_id}


def test_rerun_without_new_bronze_rows_writes_nothing_then_reads_only_new_rows(
    spark, lakehouse_config, tmp_path
):
    config = configured(lakehouse_config, tmp_path)
    day_one(spark, config)
    run_job("silver_refine", config, spark=spark)
    versions = {
        t: version(spark, config, t) for t in ("silver.orders", "quarantine.orders", "silver.customers")
    }

    again = run_job("silver_refine", config, spark=spark)

    assert again.rows_written == {}
    assert {t: version(spark, config, t) for t in versions} == versions

    land(
        spark,
        config,
        "bronze.orders",
        [(11, 2, "shipped", 7.0, T3, None, T3), (20, 2, "paid", 9.0, T3, None, T3)],
        ORDERS_BRONZE,
    )
    land(spark, config, "bronze.customers", [(2, "B.new@x.io", T3, T3)], CUSTOMERS_BRONZE)
    third = run_job("silver_refine", config, spark=spark)

    assert third.rows_written == {
        "silver.orders": 2,
        "silver.customers": 2,
    }  # 1 inserted + 1 updated; 1 new version + 1 closed
    validated = read(spark, config, RESULTS_TABLE).where(
        f"run_id = '{third.run_id}' AND table = 'silver.orders'"
    )
    assert {row["element_count"] for row in validated.collect()} == {2}  # only the new bronze rows
    assert read(spark, config, "silver.orders").where("order_id = 11").first()["status"] == "shipped"
    history = read(spark, config, "silver.customers").where("customer_id = 2").orderBy("valid_from").collect()
    assert [(row["email"], row["is_current"]) for row in history] == [("b@x.io", False), ("b.new@x.io", True)]


def test_fail_severity_stops_before_writing(spark, lakehouse_config, tmp_path):
    config = configured(lakehouse_config, tmp_path)
    day_one(spark, config)
    run_job("silver_refine", config, spark=spark, params={"table": "customers"})
    land(spark, config, "bronze.orders", [(30, 1, "paid", 1.0, T1, None, T1)], ORDERS_BRONZE)  # silver exists
    run_job("silver_refine", config, spark=spark, params={"table": "orders"})
    before = version(spark, config, "silver.orders")
    land(spark, config, "bronze.orders", [(31, 1, "paid", -1.0, T2, None, T2)], ORDERS_BRONZE)
    strict = configured(lakehouse_config, tmp_path, amount="fail")

    with pytest.raises(JobFailedError) as failure:
        run_job("silver_refine", strict, spark=spark, params={"table": "orders"})

    assert isinstance(failure.value.__cause__, QualityError)
    assert "table silver.orders" in str(failure.value.__cause__) and "between_amount" in str(
        failure.value.__cause__
    )
    assert version(spark, config, "silver.orders") == before
    assert read(spark, config, "silver.orders").where("order_id = 31").count() == 0
    failed = read(spark, config, RESULTS_TABLE).where("expectation = 'between_amount' AND NOT success")
    assert failed.where("severity = 'fail'").count() == 1  # the failed check is on record
    # the batch was not consumed: once the rule is relaxed, the next run writes it
    relaxed = configured(lakehouse_config, tmp_path)
    run_job("silver_refine", relaxed, spark=spark, params={"table": "orders"})
    assert read(spark, config, "silver.orders").where("order_id = 31").count() == 1


def test_quarantined_rows_replay_after_a_fix(spark, lakehouse_config, tmp_path):
    config = configured(lakehouse_config, tmp_path)
    day_one(spark, config)
    run_job("silver_refine", config, spark=spark)
    # fixes: the missing customer arrives, the rule learns a status, a row is corrected in quarantine
    land(spark, config, "bronze.customers", [(3, "c@x.io", T2, T2)], CUSTOMERS_BRONZE)
    location = StorageLayout.from_config(config).table("quarantine.orders").location
    DeltaTable.forPath(spark, location).update("order_id = 14", {"customer_id": F.lit(2)})
    fixed = configured(lakehouse_config, tmp_path, statuses="[placed, paid, shipped, lost]")

    replay = run_job("silver_refine", fixed, spark=spark, params={"replay": "true"})

    assert sorted(row["order_id"] for row in read(spark, config, "silver.orders").collect()) == [
        10,
        11,
        12,
        13,
        14,
        15,
    ]
    quarantine = read(spark, config, "quarantine.orders")
    replayed = quarantine.where("_replayed_run_id IS NOT NULL")
    assert sorted(row["order_id"] for row in replayed.collect()) == [12, 13, 14]
    assert {row["_replayed_run_id"] for row in replayed.collect()} == {replay.run_id}
    pending = quarantine.where("_replayed_run_id IS NULL").collect()
    assert [row["_corrupt_record"] for row in pending] == ['16,1,"paid']  # still malformed: stays

    # a second replay finds nothing new to write
    again = run_job("silver_refine", fixed, spark=spark, params={"replay": "true"})
    assert again.rows_written.get("silver.orders", 0) == 0


def test_misspelled_column_in_quality_file_fails_at_load_naming_file_and_key(
    spark, lakehouse_config, tmp_path
):
    config = configured(lakehouse_config, tmp_path)
    path = tmp_path / "conf" / "base" / "quality" / "silver.orders.yml"
    path.write_text("expectations:\n  - {kind: not_null, column: custmer_id}\n")

    with pytest.raises(JobFailedError) as failure:
        run_job("silver_refine", config, spark=spark)

    cause = failure.value.__cause__
    assert isinstance(cause, ConfigError)
    assert str(path) in str(cause)
    assert "expectations.0.column" in str(cause) and "did you mean 'customer_id'" in str(cause)

"""File sources: each landed file once, malformed lines kept, new columns per drift policy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse.errors import SchemaDriftError, SourceFolderNotFoundError
from lakehouse.ingest.ledger import FileLedger, LandedFile
from lakehouse.io.delta_store import DeltaStore
from lakehouse.io.files import list_files
from lakehouse.storage.layout import StorageLayout
from tests.conftest import PROJECT_DIR
from tests.ingest.conftest import ingest, land, with_sources

ORDERS = {
    "format": "csv",
    "path": "landing/orders",
    "columns": {"order_id": "bigint", "amount": "decimal(10,2)", "status": "string"},
}


def orders_config(config, **overrides):
    return with_sources(config, orders={**ORDERS, **overrides})


def read(spark, config, table="bronze.orders"):
    return DeltaStore(spark, StorageLayout.from_config(config)).read(table)


def test_csv_files_are_ingested_once_with_metadata_and_malformed_lines_kept(
    lakehouse_session, lakehouse_config, landing
):
    spark, config = lakehouse_session, orders_config(lakehouse_config)
    land(
        landing, "orders/2026-01-01/a.csv", "order_id,amount,status\n1,10.50,new\n2,12,5O,new\n3,7.25,paid\n"
    )
    land(landing, "orders/2026-01-02/b.csv", "order_id,amount,status\n4,1.00,new\n")

    first = ingest(spark, config, "orders")

    assert (first.rows, first.files, first.malformed) == (4, 2, 1)
    table = read(spark, config)
    assert table.where("_corrupt_record IS NOT NULL").first()["_corrupt_record"] == "2,12,5O,new"
    row = table.where("order_id = 3").first()
    assert (str(row["amount"]), row["status"], row["_source"]) == ("7.25", "paid", "orders")
    assert row["_source_file"].endswith("orders/2026-01-01/a.csv")
    assert row["_run_id"] and row["_ingested_at"] is not None

    again = ingest(spark, config, "orders")
    assert (again.rows, again.files) == (0, 0)

    land(landing, "orders/2026-01-03/c.csv", "order_id,amount,status\n5,3.00,new\n6,4.00,new\n")
    third = ingest(spark, config, "orders")
    assert (third.rows, third.files) == (2, 1)
    assert read(spark, config).count() == 6
    assert read(spark, config).groupBy("_source_file").count().count() == 3


def test_csv_columns_are_read_by_header_name_not_position(lakehouse_session, lakehouse_config, landing):
    spark, config = lakehouse_session, orders_config(lakehouse_config)
    land(landing, "orders/d1/a.csv", "status,order_id,amount\npaid,1,2.50\n")
    land(landing, "orders/d2/b.csv", "order_id,amount\n2,3.50\n")  # status missing

    ingest(spark, config, "orders")

    rows = {r["order_id"]: (str(r["amount"]), r["status"]) for r in read(spark, config).collect()}
    assert rows == {1: ("2.50", "paid"), 2: ("3.50", None)}
    assert read(spark, config).where("_corrupt_record IS NOT NULL").count() == 0


def test_a_new_column_evolves_the_table_under_policy_evolve(lakehouse_session, lakehouse_config, landing):
    spark, config = lakehouse_session, orders_config(lakehouse_config, drift="evolve")
    land(landing, "orders/d1/a.csv", "order_id,amount,status\n1,1.00,new\n")
    ingest(spark, config, "orders")
    land(landing, "orders/d2/b.csv", "order_id,amount,status,coupon_code\n2,2.00,new,WINTER10\n")

    result = ingest(spark, config, "orders")

    assert result.new_columns == ["coupon_code"] and result.malformed == 0
    rows = {r["order_id"]: r["coupon_code"] for r in read(spark, config).collect()}
    assert rows == {1: None, 2: "WINTER10"}
    # the evolved column is known from the table on later runs
    land(landing, "orders/d3/c.csv", "order_id,coupon_code,amount,status\n3,SPRING,3.00,new\n")
    assert ingest(spark, config, "orders").new_columns == []
    assert read(spark, config).where("order_id = 3").first()["coupon_code"] == "SPRING"


def test_a_new_column_fails_under_policy_fail_and_the_table_stays(
    lakehouse_session, lakehouse_config, landing
):
    spark, config = lakehouse_session, orders_config(lakehouse_config, drift="fail")
    land(landing, "orders/d1/a.csv", "order_id,amount,status\n1,1.00,new\n")
    ingest(spark, config, "orders")
    store = DeltaStore(spark, StorageLayout.from_config(config))
    version = store.version("bronze.orders")
    land(landing, "orders/d2/b.csv", "order_id,amount,status,coupon_code\n2,2.00,new,WINTER10\n")

    refused = r"table bronze\.orders: .*new columns \['coupon_code'\].*b\.csv"
    with pytest.raises(SchemaDriftError, match=refused):
        ingest(spark, config, "orders")

    assert store.version("bronze.orders") == version
    # the refused file is not lost: once the policy allows it, the same batch is retried
    evolved = orders_config(lakehouse_config, drift="evolve")
    assert ingest(spark, evolved, "orders").rows == 1
    assert read(spark, config).count() == 2


def test_json_lines_keep_malformed_lines_and_evolve_new_keys(lakehouse_session, lakehouse_config, landing):
    config = with_sources(
        lakehouse_config,
        tickets={
            "format": "json",
            "path": "landing/tickets",
            "columns": {"ticket_id": "bigint", "body": "string"},
        },
    )
    spark = lakehouse_session
    land(landing, "tickets/d1/t.jsonl", '{"ticket_id": 1, "body": "late"}\n{"ticket_id": 2, "body": \n')
    land(landing, "tickets/d2/t.jsonl", '{"ticket_id": 3, "body": "broken", "channel": "email"}\n')

    result = ingest(spark, config, "tickets")

    assert (result.rows, result.malformed, result.new_columns) == (3, 1, ["channel"])
    table = read(spark, config, "bronze.tickets")
    assert table.where("ticket_id = 3").first()["channel"] == "email"
    assert table.where("_corrupt_record IS NOT NULL").first()["_corrupt_record"].startswith('{"ticket_id": 2')


def test_parquet_files_bring_their_own_schema(lakehouse_session, lakehouse_config, landing):
    spark = lakehouse_session
    config = with_sources(lakehouse_config, lines={"format": "parquet", "path": "landing/lines"})
    spark.createDataFrame([(1, 2.5)], "order_id bigint, price double").coalesce(1).write.parquet(
        str(landing / "lines" / "d1")
    )

    assert ingest(spark, config, "lines").rows == 1
    spark.createDataFrame([(2, 3.5, 4)], "order_id bigint, price double, qty int").coalesce(1).write.parquet(
        str(landing / "lines" / "d2")
    )
    result = ingest(spark, config, "lines")

    assert (result.rows, result.new_columns) == (1, ["qty"])
    table = read(spark, config, "bronze.lines")
    assert dict(table.dtypes)["qty"] == "int"
    assert sorted((r["order_id"], r["qty"]) for r in table.collect()) == [(1, None), (2, 4)]


def test_a_batch_committed_but_not_recorded_is_recorded_not_written_twice(
    lakehouse_session, lakehouse_config, landing
):
    """A run killed after its Delta commit but before it settled its claim in the ledger."""
    spark, config = lakehouse_session, orders_config(lakehouse_config)
    land(landing, "orders/d1/a.csv", "order_id,amount,status\n1,1.00,new\n2,2.00,new\n")
    assert ingest(spark, config, "orders").rows == 2
    store = DeltaStore(spark, StorageLayout.from_config(config), write_internal=True)
    # as if killed between the bronze commit and the settling update
    store.update_where("ops.ingested_files", "source = 'orders'", {"settled": False, "table_version": None})
    land(landing, "orders/d2/b.csv", "order_id,amount,status\n3,3.00,new\n")

    replay = ingest(spark, config, "orders")

    assert (replay.rows, replay.files) == (1, 1)
    assert read(spark, config).count() == 3
    ledger = store.read("ops.ingested_files").where("source = 'orders'")
    assert sorted((r["file"], r["settled"]) for r in ledger.collect()) == [
        ("d1/a.csv", True),
        ("d2/b.csv", True),
    ]


def test_a_batch_claimed_but_not_committed_is_ingested_by_the_next_run(
    lakehouse_session, lakehouse_config, landing
):
    """A run killed after it claimed its files but before its Delta commit."""
    spark, config = lakehouse_session, orders_config(lakehouse_config)
    land(landing, "orders/d1/a.csv", "order_id,amount,status\n1,1.00,new\n")
    assert ingest(spark, config, "orders").rows == 1
    land(landing, "orders/d2/b.csv", "order_id,amount,status\n2,2.00,new\n3,3.00,new\n")
    layout = StorageLayout.from_config(config)
    listed = list_files(spark, str(landing / "orders"), {}).where("file = 'd2/b.csv'").first()
    dead = FileLedger(spark, layout, "orders", "bronze.orders", "dead-run")
    dead.claim([LandedFile(listed["path"], listed["file"], listed["size"], listed["modified_at"])], 0)

    result = ingest(spark, config, "orders")

    assert result.rows == 2
    rows = read(spark, config)
    assert sorted(r["order_id"] for r in rows.collect()) == [1, 2, 3]
    assert ingest(spark, config, "orders").rows == 0  # nothing left unsettled or new


def test_a_lost_ledger_and_a_moved_landing_folder_duplicate_nothing(
    lakehouse_session, lakehouse_config, landing
):
    spark, config = lakehouse_session, orders_config(lakehouse_config)
    land(landing, "orders/d1/a.csv", "order_id,amount,status\n1,1.00,new\n")
    land(landing, "orders/d2/b.csv", "order_id,amount,status\n2,2.00,new\n")
    assert ingest(spark, config, "orders").rows == 2
    layout = StorageLayout.from_config(config)
    shutil.rmtree(DeltaStore(spark, layout).location("ops.ingested_files").location)
    (landing / "orders").rename(landing / "orders_moved")
    land(landing, "orders_moved/d3/c.csv", "order_id,amount,status\n3,3.00,new\n")
    moved = orders_config(lakehouse_config, path="landing/orders_moved")

    result = ingest(spark, moved, "orders")

    assert result.rows == 1
    assert sorted(r["order_id"] for r in read(spark, config).collect()) == [1, 2, 3]
    ledger = DeltaStore(spark, layout).read("ops.ingested_files").where("source = 'orders'")
    assert sorted(r["file"] for r in ledger.collect()) == ["d1/a.csv", "d2/b.csv", "d3/c.csv"]


def test_a_missing_folder_fails_naming_the_source_and_the_path(lakehouse_session, lakehouse_config):
    config = orders_config(lakehouse_config, path="landing/ordres")  # a typo in the path
    folder = StorageLayout.from_config(config).files_location("landing/ordres")

    with pytest.raises(SourceFolderNotFoundError) as raised:
        ingest(lakehouse_session, config, "orders")

    assert (raised.value.source, raised.value.path) == ("orders", folder)
    assert f"source orders: its folder {folder} does not exist" in str(raised.value)
    assert "sources.orders.path" in str(raised.value)
    assert not DeltaStore(lakehouse_session, StorageLayout.from_config(config)).exists("bronze.orders")


def test_an_empty_folder_ingests_nothing_and_succeeds(lakehouse_session, lakehouse_config, landing):
    (landing / "orders").mkdir()

    result = ingest(lakehouse_session, orders_config(lakehouse_config), "orders")

    assert (result.rows, result.files, result.malformed) == (0, 0, 0)


@pytest.mark.slow
def test_lakehouse_run_exits_non_zero_when_a_source_folder_is_missing(tmp_path, spark):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lakehouse"), "run", "bronze_ingest", "--param", "source=orders"],
        cwd=PROJECT_DIR,
        env={**os.environ, "LAKEHOUSE_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 1, result.stderr[-4000:]
    assert "SourceFolderNotFoundError" in result.stderr
    assert f"source orders: its folder {tmp_path}/files/landing/orders does not exist" in result.stderr
    run = spark.read.format("delta").load(f"{tmp_path}/tables/ops/job_runs").first()
    assert (run.job, run.status, run.error_class) == ("bronze_ingest", "failed", "SourceFolderNotFoundError")


def test_ingest_metadata_columns_carry_comments(lakehouse_session, lakehouse_config, landing):
    spark, config = lakehouse_session, orders_config(lakehouse_config)
    land(landing, "orders/d1/a.csv", "order_id,amount,status\n1,1.00,new\n")
    ingest(spark, config, "orders")
    location = StorageLayout.from_config(config).table("bronze.orders").location
    comments = {
        row["col_name"]: row["comment"] for row in spark.sql(f"DESCRIBE TABLE delta.`{location}`").collect()
    }
    assert comments["_run_id"].startswith("run of bronze_ingest")
    assert read(spark, config).select(F.max("_ingested_at")).first()[0] is not None


def test_statistics_cover_the_source_columns_and_the_corrupt_record_only(
    lakehouse_session, lakehouse_config, landing
):
    spark, config = lakehouse_session, orders_config(lakehouse_config)
    land(landing, "orders/d1/a.csv", "order_id,amount,status\n1,1.00,new\nnot,a,row,at all\n")
    assert ingest(spark, config, "orders").malformed == 1  # counted from the statistics
    log = Path(StorageLayout.from_config(config).table("bronze.orders").location) / "_delta_log"
    added = [
        json.loads(json.loads(line)["add"]["stats"])
        for commit in sorted(log.glob("*.json"))
        for line in commit.read_text().splitlines()
        if '"add"' in line
    ]
    assert added and all(
        set(stats["nullCount"]) == {"order_id", "amount", "status", "_corrupt_record"} for stats in added
    )


def test_every_format_sources_yml_accepts_has_a_reader():
    # a format is one class of lakehouse.ingest.formats; sources.yml is checked against the names
    from typing import get_args

    from lakehouse.config.sources import FILE_FORMATS, SourceFormat
    from lakehouse.ingest.formats import FORMATS
    from lakehouse.ingest.sources import READERS

    assert set(FORMATS) == set(FILE_FORMATS)
    assert set(READERS) == set(get_args(SourceFormat))

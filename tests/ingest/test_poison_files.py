"""Files that cannot be read go aside with a reason; the other files of the batch land; the source
goes on; a fixed file is ingested again. Bytes that do not decode make malformed rows, not silent
replacements."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lakehouse.errors import FilesRejectedError
from lakehouse.ingest.ledger import forget_rejections, rejected_files
from lakehouse.io.delta_store import DeltaStore
from lakehouse.storage.layout import StorageLayout
from tests.conftest import PROJECT_DIR
from tests.ingest.conftest import ingest, land, with_sources

ORDERS = {
    "format": "csv",
    "path": "landing/orders",
    "columns": {"order_id": "bigint", "amount": "decimal(10,2)", "status": "string"},
}
EVENTS = {"format": "json", "path": "landing/events", "columns": {"event_id": "bigint", "kind": "string"}}
GOOD_CSV = "order_id,amount,status\n1,1.00,new\n2,2.00,paid\n"


def read(spark, config, table="bronze.orders"):
    return DeltaStore(spark, StorageLayout.from_config(config)).read(table)


def rejected(spark, config, source="orders"):
    return {
        r["file"]: r["reason"] for r in rejected_files(spark, StorageLayout.from_config(config), [source])
    }


def test_a_binary_file_goes_aside_and_the_good_file_beside_it_lands(
    lakehouse_session, lakehouse_config, landing
):
    spark, config = lakehouse_session, with_sources(lakehouse_config, orders=ORDERS)
    land(landing, "orders/d1/good.csv", GOOD_CSV)
    garbage = landing / "orders" / "d1" / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 40)

    with pytest.raises(FilesRejectedError) as raised:
        ingest(spark, config, "orders")

    message = str(raised.value)
    assert "source orders: set aside file d1/garbage.csv" in message
    assert "lakehouse ingest rejected --source orders --retry" in message
    assert sorted(r["order_id"] for r in read(spark, config).collect()) == [1, 2]
    assert list(rejected(spark, config)) == ["d1/garbage.csv"]
    assert "characters a Delta column cannot have" in rejected(spark, config)["d1/garbage.csv"]

    # the source is not stuck: the next run ingests new files and does not reject anything twice
    land(landing, "orders/d2/next.csv", "order_id,amount,status\n3,3.00,new\n")
    assert ingest(spark, config, "orders").rows == 1
    assert len(rejected_files(spark, StorageLayout.from_config(config), ["orders"])) == 1

    # a fixed file, landed again under the same name, is tried again and lands
    time.sleep(1.1)  # a new modification time
    garbage.write_text("order_id,amount,status\n4,4.00,new\n")
    assert ingest(spark, config, "orders").rows == 1
    assert sorted(r["order_id"] for r in read(spark, config).collect()) == [1, 2, 3, 4]


def test_a_header_above_max_record_bytes_goes_aside_naming_the_setting(
    lakehouse_session, lakehouse_config, landing
):
    spark, config = (
        lakehouse_session,
        with_sources(lakehouse_config, orders={**ORDERS, "max_record_bytes": 2048}),
    )
    land(landing, "orders/d1/good.csv", GOOD_CSV)
    land(landing, "orders/d1/long.csv", "x" * 5000 + "\n1,2,3\n")

    with pytest.raises(FilesRejectedError, match=r"d1/long\.csv"):
        ingest(spark, config, "orders")

    assert read(spark, config).count() == 2
    assert "longer than sources.orders.max_record_bytes (2048)" in rejected(spark, config)["d1/long.csv"]


def test_a_json_record_above_max_record_bytes_goes_aside_and_its_neighbours_land(
    lakehouse_session, lakehouse_config, landing
):
    spark = lakehouse_session
    config = with_sources(lakehouse_config, events={**EVENTS, "max_record_bytes": 4096})
    land(landing, "events/a.json", '{"event_id": 1, "kind": "view"}\n')
    land(landing, "events/b.json", '{"event_id": 2, "kind": "' + "y" * 10_000 + '"}\n')

    with pytest.raises(FilesRejectedError, match=r"file b\.json"):
        ingest(spark, config, "events")

    assert [r["event_id"] for r in read(spark, config, "bronze.events").collect()] == [1]
    assert "a line of 10" in rejected(spark, config, "events")["b.json"]


def test_a_corrupt_parquet_file_goes_aside(lakehouse_session, lakehouse_config, landing):
    spark = lakehouse_session
    config = with_sources(lakehouse_config, lines={"format": "parquet", "path": "landing/lines"})
    spark.createDataFrame([(1, 2.5)], "order_id bigint, price double").coalesce(1).write.parquet(
        str(landing / "lines" / "d1")
    )
    (landing / "lines" / "d1" / "broken.parquet").write_bytes(b"PAR1" + b"\x00" * 100)

    with pytest.raises(FilesRejectedError, match=r"d1/broken\.parquet"):
        ingest(spark, config, "lines")

    assert read(spark, config, "bronze.lines").count() == 1
    assert "not a readable Parquet file" in rejected(spark, config, "lines")["d1/broken.parquet"]


def test_forgotten_rejections_are_tried_again(lakehouse_session, lakehouse_config, landing):
    spark, config = (
        lakehouse_session,
        with_sources(lakehouse_config, orders={**ORDERS, "max_record_bytes": 1024}),
    )
    land(landing, "orders/ok.csv", "order_id,amount,status\n" + "".join(f"{n},1.00,new\n" for n in range(3)))
    land(landing, "orders/wide.csv", "order_id,amount,status," + ",".join(f"c{n}" for n in range(300)) + "\n")
    with pytest.raises(FilesRejectedError):
        ingest(spark, config, "orders")
    assert list(rejected(spark, config)) == ["wide.csv"]
    layout = StorageLayout.from_config(config)

    assert forget_rejections(spark, layout, "orders", ["wide.csv"], "test") == 1
    roomy = with_sources(lakehouse_config, orders={**ORDERS, "max_record_bytes": 4096})
    result = ingest(spark, roomy, "orders")

    assert (result.files, result.rows, result.new_columns[:2]) == (1, 0, ["c0", "c1"])
    assert rejected(spark, config) == {}


def test_bytes_that_do_not_decode_make_a_malformed_row_and_the_encoding_option_reads_them(
    lakehouse_session, lakehouse_config, landing
):
    spark = lakehouse_session
    land(landing, "orders/utf8.csv", GOOD_CSV)
    path = landing / "orders" / "latin1.csv"
    path.write_bytes("order_id,amount,status\n5,5.00,résumé envoyé\n".encode("latin-1"))

    result = ingest(spark, with_sources(lakehouse_config, orders=ORDERS), "orders")

    assert (result.rows, result.malformed) == (3, 1)
    bad = read(spark, lakehouse_config).where("order_id = 5").first()
    assert bad["_corrupt_record"] is not None and "undecodable" in bad["_corrupt_record"]

    land(landing, "customers/latin1.csv", "")
    (landing / "customers" / "latin1.csv").write_bytes("id,name\n1,Zoë Gaëlle\n".encode("latin-1"))
    customers = {"format": "csv", "path": "landing/customers", "columns": {"id": "bigint", "name": "string"}}
    config = with_sources(lakehouse_config, customers={**customers, "encoding": "ISO-8859-1"})
    result = ingest(spark, config, "customers")

    assert (result.rows, result.malformed) == (1, 0)
    assert read(spark, config, "bronze.customers").first()["name"] == "Zoë Gaëlle"


@pytest.mark.slow
def test_lakehouse_ingest_rejected_lists_and_retries(lakehouse_config, landing, spark):
    env = {**os.environ, "LAKEHOUSE_ROOT": str(StorageLayout.from_config(lakehouse_config).root)}
    command = [str(Path(sys.executable).parent / "lakehouse"), "ingest", "rejected"]
    land(landing, "orders/d1/good.csv", GOOD_CSV)
    bad = landing / "orders" / "d1" / "bad.csv"
    bad.write_bytes(b"\x00\x01\x02binary\xff\xfe\n\x00")
    ran = subprocess.run(
        [str(Path(sys.executable).parent / "lakehouse"), "run", "bronze_ingest", "--param", "source=orders"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ran.returncode != 0
    assert "set aside file d1/bad.csv" in ran.stderr + ran.stdout
    assert "Traceback" not in ran.stderr

    listed = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600)
    assert listed.returncode == 0, listed.stderr
    assert "d1/bad.csv" in listed.stdout and "orders" in listed.stdout

    bad.write_text("order_id,amount,status\n7,7.00,new\n")  # fixed in place
    retried = subprocess.run(
        [*command, "--source", "orders", "--retry", "d1/bad.csv"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert sorted(r["order_id"] for r in read(spark, lakehouse_config).collect()) == [1, 2, 7]

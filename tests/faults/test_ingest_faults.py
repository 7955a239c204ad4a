"""Faults around file ingestion, each compared with a clean run: zero duplicates, zero losses,
no stuck source, and every failure a one-line message naming its file or source."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lakehouse.errors import LakehouseError
from lakehouse.ingest.ledger import FileLedger, LandedFile
from lakehouse.io.delta_store import DeltaStore
from lakehouse.io.files import list_files
from lakehouse.storage.layout import StorageLayout
from tests.conftest import with_root
from tests.faults.conftest import Outcome
from tests.ingest.conftest import ingest, with_sources
from tests.ingest.conftest import landing as landing  # a fixture

ORDERS = {
    "format": "csv",
    "path": "landing/orders",
    "columns": {"order_id": "bigint", "amount": "decimal(10,2)", "status": "string"},
}
DAYS, ROWS = 4, 5


def land_days(landing: Path, days: range) -> set[int]:
    keys = set()
    for day in days:
        folder = landing / "orders" / f"d{day}"
        folder.mkdir(parents=True, exist_ok=True)
        ids = [day * 100 + n for n in range(ROWS)]
        (folder / "orders.csv").write_text(
            "order_id,amount,status\n" + "".join(f"{i},1.00,new\n" for i in ids)
        )
        keys |= set(ids)
    return keys


def attempt(action: Callable[[], object]) -> tuple[str, str]:
    try:
        action()
    except LakehouseError as error:
        return type(error).__name__, str(error)
    return "ok", ""


def measure(spark, config, expected: set[int], scenario: str, outcome: tuple[str, str]) -> Outcome:
    rows = DeltaStore(spark, StorageLayout.from_config(config)).read("bronze.orders")
    ids = [r["order_id"] for r in rows.select("order_id").collect()]
    return Outcome(scenario, len(ids) - len(set(ids)), len(expected - set(ids)), *outcome)


def claim_as_dead_run(spark, config, landing: Path, day: int) -> None:
    layout = StorageLayout.from_config(config)
    row = list_files(spark, str(landing / "orders"), {}).where(f"file = 'd{day}/orders.csv'").first()
    FileLedger(spark, layout, "orders", "bronze.orders", "killed-run").claim(
        [LandedFile(row["path"], row["file"], row["size"], row["modified_at"])], 0
    )


def unsettle(spark, config) -> None:
    DeltaStore(spark, StorageLayout.from_config(config), write_internal=True).update_where(
        "ops.ingested_files", "source = 'orders'", {"settled": False, "table_version": None}
    )


def drop_ledger(spark, config) -> None:
    shutil.rmtree(
        DeltaStore(spark, StorageLayout.from_config(config)).location("ops.ingested_files").location
    )


SCENARIOS = {
    # fault applied after a first clean ingest of days 0-1 and before days 2-3 are ingested
    "killed after claim, before commit": lambda spark, config, landing: claim_as_dead_run(
        spark, config, landing, 2
    ),
    "killed after commit, before settle": lambda spark, config, landing: unsettle(spark, config),
    "ledger deleted": lambda spark, config, landing: drop_ledger(spark, config),
    "ledger deleted and claim left behind": lambda spark, config, landing: (
        drop_ledger(spark, config),
        claim_as_dead_run(spark, config, landing, 2),
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_ingest_recovers_from(scenario, lakehouse_session, lakehouse_config, landing, record_outcome):
    spark, config = lakehouse_session, with_sources(lakehouse_config, orders=ORDERS)
    expected = land_days(landing, range(2))
    ingest(spark, config, "orders")
    expected |= land_days(landing, range(2, DAYS))
    SCENARIOS[scenario](spark, config, landing)

    outcome = attempt(lambda: ingest(spark, config, "orders"))
    again = attempt(lambda: ingest(spark, config, "orders"))  # a rerun writes nothing more

    result = record_outcome(measure(spark, config, expected, scenario, outcome))
    assert (result.duplicates, result.losses, result.outcome, again[0]) == (0, 0, "ok", "ok")


def test_a_lakehouse_moved_to_another_path_duplicates_nothing(
    lakehouse_session, lakehouse_config, landing, tmp_path, record_outcome
):
    spark, config = lakehouse_session, with_sources(lakehouse_config, orders=ORDERS)
    expected = land_days(landing, range(2))
    ingest(spark, config, "orders")
    root = StorageLayout.from_config(config).root
    moved_root = tmp_path / "moved"
    shutil.copytree(root, moved_root)
    moved = with_sources(with_root(lakehouse_config, moved_root), orders=ORDERS)
    expected |= land_days(moved_root / "files" / "landing", range(2, DAYS))

    outcome = attempt(lambda: ingest(spark, moved, "orders"))

    result = record_outcome(measure(spark, moved, expected, "root copied elsewhere", outcome))
    assert (result.duplicates, result.losses, result.outcome) == (0, 0, "ok")


def test_two_ingests_of_one_source_at_once_duplicate_nothing(
    lakehouse_session, lakehouse_config, landing, record_outcome
):
    spark, config = lakehouse_session, with_sources(lakehouse_config, orders=ORDERS)
    expected = land_days(landing, range(DAYS))
    outcomes: list[tuple[str, str]] = []
    runs = [
        threading.Thread(target=lambda: outcomes.append(attempt(lambda: ingest(spark, config, "orders"))))
        for _ in range(2)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()

    failed = [o for o in outcomes if o[0] != "ok"]
    result = record_outcome(
        measure(spark, config, expected, "two ingests at once", failed[0] if failed else ("ok", ""))
    )
    assert (result.duplicates, result.losses) == (0, 0)
    assert all(o[0] in ("ok", "ConcurrentWriteError") for o in outcomes), outcomes


POISON = {
    "binary file": ("garbage.csv", bytes(range(256)) * 20),
    "header above max_record_bytes": ("long.csv", b"x" * 3000 + b"\n1,2,3\n"),
    "header with a name Delta refuses": ("bad_names.csv", b"order_id,total amount\n9,1\n"),
}


@pytest.mark.parametrize("poison", list(POISON))
def test_a_poison_file_beside_good_ones(poison, lakehouse_session, lakehouse_config, landing, record_outcome):
    spark = lakehouse_session
    config = with_sources(lakehouse_config, orders={**ORDERS, "max_record_bytes": 2048})
    expected = land_days(landing, range(2))
    name, data = POISON[poison]
    (landing / "orders" / "d1" / name).write_bytes(data)

    outcome = attempt(lambda: ingest(spark, config, "orders"))
    expected |= land_days(landing, range(2, 3))
    later = attempt(lambda: ingest(spark, config, "orders"))  # not stuck: the next file lands

    result = record_outcome(measure(spark, config, expected, f"poison: {poison}", outcome))
    assert (result.duplicates, result.losses, result.outcome, later[0]) == (0, 0, "FilesRejectedError", "ok")
    assert f"d1/{name}" in result.message and "\n" not in result.message

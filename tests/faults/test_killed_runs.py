"""silver_refine killed with SIGKILL at several points, then rerun: the tables match a clean run
(each key once, one current version per customer, each quarantined row once) and the killed run
is recorded as abandoned."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from lakehouse.errors import LakehouseError
from lakehouse.io.delta_store import DeltaStore
from lakehouse.runs.records import JOB_RUNS_TABLE
from lakehouse.runs.runner import run_job
from lakehouse.storage.catalog import TABLES_ROOT_PROPERTY
from lakehouse.storage.layout import StorageLayout
from tests.conftest import CONF_DIR, PROJECT_DIR
from tests.faults.conftest import Outcome
from tests.silver.test_refine import ORDERS_SUITE, SILVER, STATUSES, day_one

LAKEHOUSE = str(Path(sys.executable).with_name("lakehouse"))


def commits(table: Path) -> int:
    return len(list((table / "_delta_log").glob("*.json"))) if table.exists() else 0


def project(tmp_path: Path) -> Path:
    """A project of its own: the spark, storage and jobs settings, the two silver tables of
    tests/silver and their suites."""
    conf = tmp_path / "conf"
    (conf / "base" / "quality").mkdir(parents=True)
    for name in ("spark.yml", "storage.yml", "jobs.yml"):
        shutil.copy(CONF_DIR / "base" / name, conf / "base" / name)
    shutil.copytree(CONF_DIR / "local", conf / "local")
    (conf / "base" / "silver.yml").write_text(yaml.safe_dump({"silver": SILVER}))
    (conf / "base" / "quality" / "silver.orders.yml").write_text(ORDERS_SUITE % (STATUSES, "warn"))
    (conf / "base" / "quality" / "silver.customers.yml").write_text(
        "expectations:\n  - {kind: not_null, column: customer_id, severity: drop}\n"
    )
    return conf


KILL_POINTS: dict[str, Callable[[Path], bool]] = {
    # silver.customers is created empty, then MERGEd: killed in between, before its first data commit
    "before the first data commit": lambda tables: commits(tables / "silver" / "customers") == 1,
    # customers written, orders not yet
    "between tables": lambda tables: commits(tables / "silver" / "customers") >= 2,
}


@pytest.mark.slow
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_silver_refine_killed_then_rerun_matches_a_clean_run(point, spark, tmp_path, record_outcome):
    conf = project(tmp_path)
    root = tmp_path / "lakehouse"
    env = {
        **os.environ,
        "LAKEHOUSE_ROOT": str(root),
        "LAKEHOUSE_CONF_DIR": str(conf),
        "LAKEHOUSE_SPARK_MASTER": "local[2]",
    }
    from lakehouse.config import load_config

    config = load_config("local", conf_dir=conf, environ=env)
    day_one(spark, config)
    command = [LAKEHOUSE, "run", "silver_refine", "--env", "local"]
    victim = subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    tables = root / "tables"
    deadline = time.monotonic() + 300
    try:
        while not KILL_POINTS[point](tables) and victim.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert victim.poll() is None, (
            "silver_refine ended before the kill point:\n" + victim.stdout.read().decode()
        )
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=60)

    # the rerun, on the test run's session: a run of its own as `lakehouse run` would start it
    failure: LakehouseError | None = None
    previous = spark.conf.get(TABLES_ROOT_PROPERTY)
    spark.conf.set(TABLES_ROOT_PROPERTY, StorageLayout.from_config(config).tables_root)
    try:
        run_job("silver_refine", config, spark=spark)
    except LakehouseError as error:
        failure = error
    finally:
        spark.conf.set(TABLES_ROOT_PROPERTY, previous)

    store = DeltaStore(spark, StorageLayout.from_config(config))
    orders = [r["order_id"] for r in store.read("silver.orders").collect()]
    current = [r["customer_id"] for r in store.read("silver.customers").where("is_current").collect()]
    quarantined = [r["_quarantine_id"] for r in store.read("quarantine.orders").collect()]
    duplicates = sum(len(ids) - len(set(ids)) for ids in (orders, current, quarantined))
    losses = len({10, 11, 15} - set(orders)) + len({1, 2} - set(current)) + (4 - len(set(quarantined)))
    cause = (failure.__cause__ or failure) if failure else None
    result = record_outcome(
        Outcome(
            f"silver_refine killed {point}",
            duplicates,
            losses,
            type(cause).__name__ if cause else "ok",
            str(cause).strip()[-200:] if cause else "",
        )
    )
    assert (result.duplicates, result.losses, result.outcome) == (0, 0, "ok"), result.message
    statuses = {r["status"] for r in store.read(JOB_RUNS_TABLE).where("job = 'silver_refine'").collect()}
    assert statuses == {"abandoned", "succeeded"}

"""A bronze_ingest process killed with SIGKILL mid-ingest, then rerun, leaves each row once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lakehouse.config import load_config
from lakehouse.runs.runner import run_job
from lakehouse.storage.catalog import TABLES_ROOT_PROPERTY
from lakehouse.storage.layout import StorageLayout
from tests.conftest import CONF_DIR, PROJECT_DIR

FILES, ROWS_PER_FILE = 8, 40  # killed after 4 commits, the rerun lands the rest
LAKEHOUSE = str(Path(sys.executable).with_name("lakehouse"))


def commits(table: Path) -> int:
    return len(list((table / "_delta_log").glob("*.json"))) if table.exists() else 0


def run_ingest(env: dict[str, str]) -> subprocess.Popen:
    command = [LAKEHOUSE, "run", "bronze_ingest", "--env", "local", "--param", "source=events"]
    # its own process group: the kill takes the Spark JVM down with it, as a machine crash would
    return subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_ingest_killed_mid_run_then_rerun_keeps_each_row_once(tmp_path, spark):
    conf = tmp_path / "project" / "conf"  # a project of its own: our conf, the resolved jars
    shutil.copytree(CONF_DIR, conf)
    (conf.parent / "jars").symlink_to(PROJECT_DIR / "jars")
    sources = conf / "base" / "sources.yml"  # the shipped sources and one of its own
    shipped = yaml.safe_load(sources.read_text())
    shipped["sources"]["events"] = {
        "format": "csv",
        "path": "landing/events",
        "max_files_per_batch": 1,
        "columns": {"event_id": "bigint", "payload": "string"},
    }
    sources.write_text(yaml.safe_dump(shipped))
    root = tmp_path / "lakehouse"
    for number in range(FILES):
        day = root / "files" / "landing" / "events" / f"{number:03d}"
        day.mkdir(parents=True)
        lines = [f"{number * 1000 + row},payload {row}" for row in range(ROWS_PER_FILE)]
        (day / "events.csv").write_text("event_id,payload\n" + "\n".join(lines) + "\n")
    env = {
        **os.environ,
        "LAKEHOUSE_ROOT": str(root),
        "LAKEHOUSE_CONF_DIR": str(conf),
        "LAKEHOUSE_SPARK_MASTER": "local[2]",
    }
    table = root / "tables" / "bronze" / "events"

    victim = run_ingest(env)
    deadline = time.monotonic() + 240
    while commits(table) < 4 and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert victim.poll() is None, (
        "the ingest ended before it could be killed:\n" + victim.stdout.read().decode()
    )
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    committed_before_rerun = spark.read.format("delta").load(str(table)).count()
    assert 0 < committed_before_rerun < FILES * ROWS_PER_FILE  # killed mid-ingest

    # the rerun, on the test run's session: a run of its own as `lakehouse run` would start it
    config = load_config("local", conf_dir=conf, environ=env)
    previous = spark.conf.get(TABLES_ROOT_PROPERTY)
    spark.conf.set(TABLES_ROOT_PROPERTY, StorageLayout.from_config(config).tables_root)
    try:
        assert run_job("bronze_ingest", config, {"source": "events"}, spark=spark).succeeded
    finally:
        spark.conf.set(TABLES_ROOT_PROPERTY, previous)

    rows = spark.read.format("delta").load(str(table))
    assert rows.count() == FILES * ROWS_PER_FILE
    assert rows.select("event_id").distinct().count() == FILES * ROWS_PER_FILE
    per_file = {
        row["_source_file"].rsplit("/", 2)[-2]: row["count"]
        for row in rows.groupBy("_source_file").count().collect()
    }
    assert per_file == {f"{number:03d}": ROWS_PER_FILE for number in range(FILES)}

"""The local cluster and a driver of the cluster environment listen on loopback only, and the
cluster refuses a driver that does not authenticate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lakehouse.cluster.secret import SECRET_FILE, cluster_secret
from lakehouse.processes import command_line, descendants, is_loopback, listening_sockets
from tests.conftest import PROJECT_DIR

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

DRIVER = """
import sys, time
from lakehouse.config import load_config
from lakehouse.spark.session import build_session
spark = build_session(load_config("cluster"), app_name=sys.argv[1])
print("rows", spark.range(100_000).repartition(4).count(), flush=True)
print("READY", flush=True)
time.sleep(300)
"""

UNAUTHENTICATED = """
import sys
from pyspark.sql import SparkSession
spark = (
    SparkSession.builder.master(sys.argv[1]).appName(sys.argv[2])
    .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    .getOrCreate()
)
print("REGISTERED", spark.range(10).count(), flush=True)
"""


def start_driver(script: str, tmp_path: Path, *arguments: str, **environment: str) -> subprocess.Popen:
    path = tmp_path / f"driver_{len(list(tmp_path.glob('driver_*')))}.py"
    path.write_text(script)
    return subprocess.Popen(
        [sys.executable, str(path), *arguments],
        cwd=PROJECT_DIR,
        env={**os.environ, **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_line(process: subprocess.Popen, wanted: str, timeout: float = 240) -> list[str]:
    deadline, lines = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if line.startswith(wanted):
            return lines
    raise AssertionError(f"no {wanted!r} line; the driver printed:\n{''.join(lines)[-3000:]}")


def applications(cluster) -> set[str]:
    with urllib.request.urlopen(f"{cluster.master_webui}/json/", timeout=5) as response:
        state = json.load(response)
    return {app["name"] for app in [*state.get("activeapps", []), *state.get("completedapps", [])]}


def test_daemons_executors_and_driver_listen_on_loopback_and_keep_the_secret_private(cluster, tmp_path):
    secret = cluster_secret(cluster.state_dir)
    assert secret and len(secret) == 64
    assert oct((cluster.state_dir / SECRET_FILE).stat().st_mode & 0o777) == "0o600"

    driver = start_driver(
        DRIVER,
        tmp_path,
        "loopback-check",
        LAKEHOUSE_SPARK_MASTER=cluster.master_url,
        LAKEHOUSE_CLUSTER_DIR=str(cluster.state_dir),
        LAKEHOUSE_ROOT=str(tmp_path / "lakehouse"),
    )
    try:
        wait_for_line(driver, "READY")
        daemons = [process.pid for process in cluster.status()]
        pids = [pid for root in [*daemons, driver.pid] for pid in descendants(root)]
        sockets = listening_sockets(pids)
        executors = [
            pid for pid in descendants(daemons[1]) if "CoarseGrainedExecutorBackend" in command_line(pid)
        ]
        assert executors, "the worker started no executor for the driver"
        listeners = {pid for pid, _, _ in sockets}
        # master RPC and UI, worker RPC and UI, the executor, the driver's JVM each listen on something
        assert {*daemons, *executors} <= listeners and len(sockets) >= 6, sockets
        exposed = [
            (command_line(pid)[:80], address, port)
            for pid, address, port in sockets
            if not is_loopback(address)
        ]
        assert not exposed, f"listening outside loopback: {exposed}"
        assert not [pid for pid in pids if secret in command_line(pid)], "the secret is on a command line"
        assert "loopback-check" in applications(cluster)
    finally:
        driver.kill()
        driver.wait()
    logs = [*(cluster.state_dir / "logs").glob("*.log"), *(cluster.state_dir / "work").rglob("std*")]
    assert not [log for log in logs if secret in log.read_text(errors="replace")], "the secret is in a log"


def test_a_driver_without_the_secret_is_refused(cluster, tmp_path):
    master_log = cluster.state_dir / "logs" / "master.log"
    refusals_before = master_log.read_text(errors="replace").count("Expected SaslMessage")
    driver = start_driver(UNAUTHENTICATED, tmp_path, cluster.master_url, "no-secret")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if master_log.read_text(errors="replace").count("Expected SaslMessage") > refusals_before:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the master logged no refused connection within 60 s")
        assert "no-secret" not in applications(cluster)
    finally:
        driver.kill()
        output = driver.communicate()[0]
    assert "REGISTERED" not in output

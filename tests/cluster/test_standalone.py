"""A real standalone master and worker on 127.0.0.1, and a job submitted to them with spark-submit."""

from pathlib import Path

import pytest

from lakehouse.cluster.standalone import StandaloneCluster
from lakehouse.errors import ClusterError
from tests.cluster.conftest import settings_on_free_ports, submit

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def test_the_worker_registers_with_the_master(cluster):
    assert cluster.alive_workers() == 1
    assert all(process.running for process in cluster.status())


def test_a_job_submitted_to_the_cluster_writes_its_table_and_run_record(cluster, spark, tmp_path):
    root = tmp_path / "lakehouse"
    result = submit(cluster, "hello", root, "--param", "rows=5000")
    assert f"bronze.hello: 5000 rows -> {root}/tables/bronze/hello" in result.stdout

    hello = spark.read.format("delta").load(str(root / "tables" / "bronze" / "hello"))
    totals = hello.selectExpr("count(*) AS n", "sum(square) AS squares").first()
    assert (totals.n, totals.squares) == (5000, sum(i * i for i in range(5000)))
    run = spark.read.format("delta").load(str(root / "tables" / "ops" / "job_runs")).first()
    assert (run.job, run.env, run.status) == ("hello", "cluster", "succeeded")
    assert run.spark_master == cluster.master_url
    # the work ran in an executor that the worker launched, not in the driver
    assert list((cluster.state_dir / "work").glob("app-*/0/stderr"))


def test_start_again_keeps_the_running_daemons(cluster):
    before = [process.pid for process in cluster.status()]
    cluster.start()
    assert [process.pid for process in cluster.status()] == before


def test_a_second_cluster_on_a_taken_port_is_refused(cluster, tmp_path):
    clash = StandaloneCluster(cluster.settings, tmp_path / "other")
    with pytest.raises(ClusterError, match=r"port \d+ \(cluster.master_port\).*taken"):
        clash.start()


def test_stop_ends_both_daemons_and_is_safe_to_repeat(tmp_path):
    standalone = StandaloneCluster(settings_on_free_ports(1, "1g"), tmp_path / "cluster")
    standalone.start()
    pids = [process.pid for process in standalone.status()]

    stopped = standalone.stop()

    assert sorted(process.role for process in stopped) == ["master", "worker"]
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert standalone.stop() == []

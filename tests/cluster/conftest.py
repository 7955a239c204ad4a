"""A standalone master and worker on free loopback ports, shared by the cluster tests."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.cluster.standalone import StandaloneCluster
from lakehouse.config import ClusterSettings
from tests.conftest import PROJECT_DIR


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def settings_on_free_ports(cores: int, memory: str) -> ClusterSettings:
    """Ports nobody uses, so the tests never meet a cluster that `make cluster-up` started."""
    return ClusterSettings(
        master_port=free_port(),
        master_webui_port=free_port(),
        worker_webui_port=free_port(),
        worker_cores=cores,
        worker_memory=memory,
    )


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    standalone = StandaloneCluster(settings_on_free_ports(2, "3g"), tmp_path_factory.mktemp("cluster"))
    standalone.start()
    yield standalone
    standalone.stop()


def submit(
    cluster: StandaloneCluster, job: str, root: Path | str, *args: str, **environment: str
) -> subprocess.CompletedProcess:
    """``spark-submit jobs/<job>.py --env cluster`` to ``cluster``, the lakehouse at ``root``;
    fails the test when it exits non-zero."""
    spark_submit = Path(sys.executable).parent / "spark-submit"
    result = subprocess.run(
        [str(spark_submit), str(PROJECT_DIR / "jobs" / f"{job}.py"), "--env", "cluster", *args],
        cwd=PROJECT_DIR,
        env={
            **os.environ,
            "LAKEHOUSE_ROOT": str(root),
            "LAKEHOUSE_SPARK_MASTER": cluster.master_url,
            # where the driver finds the RPC authentication secret that the cluster's start wrote
            "LAKEHOUSE_CLUSTER_DIR": str(cluster.state_dir),
            **environment,
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result

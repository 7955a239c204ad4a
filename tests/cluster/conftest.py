"""A standalone master and worker on free loopback ports, shared by the cluster tests."""

import socket

import pytest

from lakehouse.cluster.standalone import StandaloneCluster
from lakehouse.config import ClusterSettings


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

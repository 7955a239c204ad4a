"""The embedded session of the shipped local environment listens on loopback only."""

from __future__ import annotations

import os

from pyspark.sql import functions as F

from lakehouse.processes import command_line, descendants, is_loopback, listening_sockets


def test_the_embedded_driver_and_its_python_workers_listen_on_loopback_only(spark, session_config):
    assert session_config.spark.config["spark.driver.bindAddress"] == "127.0.0.1"
    # a Python UDF starts the Python workers too
    doubled = spark.range(1000).select(F.udf(lambda x: x * 2, "long")("id").alias("x"))
    assert doubled.agg(F.sum("x")).first()[0] == 999 * 1000

    sockets = listening_sockets(descendants(os.getpid()))

    jvm = [pid for pid, _, _ in sockets if "java" in command_line(pid)]
    assert jvm, f"no listening socket of the driver's JVM among {sockets}"
    assert len({port for pid, _, port in sockets if pid in jvm}) >= 2  # RPC and block manager at least
    exposed = [
        (command_line(pid)[:80], address, port) for pid, address, port in sockets if not is_loopback(address)
    ]
    assert not exposed, f"listening outside loopback: {exposed}"

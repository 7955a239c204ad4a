"""Prometheus metrics of the search service: requests, errors and latency per endpoint and table.

With one worker the figures live in the process. With several (``serve.workers``), each worker is
its own process: ``lakehouse serve`` then points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder
before the workers start, every worker writes its figures there (prometheus-client's multiprocess
mode), and ``/metrics``, whichever worker answers, sums them over all workers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# seconds; the goals are p50 <= 25 ms and p99 <= 150 ms
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServiceMetrics:
    """The service's counters, histograms and gauges, in a registry of their own (two services in
    one process, as in tests, do not collide).

    Labels: ``endpoint`` is the route's name (``search``, ``context``, ``tables``, ``health``,
    ``metrics``, ``not_found``), ``table`` a served table or empty: never text a client sent, so
    that a client cannot grow the number of series.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("endpoint", "table")
        self.requests = Counter(
            "lakehouse_serve_requests", "HTTP requests answered.", (*labels, "status"), registry=self.registry
        )
        self.errors = Counter(
            "lakehouse_serve_errors",
            "Requests answered with a 4xx or 5xx status.",
            (*labels, "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "lakehouse_serve_request_seconds",
            "Time from the request's arrival to its response, in seconds.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.table_version = Gauge(
            "lakehouse_serve_table_version",
            "The latest Delta version of the embedding table.",
            ("table",),
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.index_version = Gauge(
            "lakehouse_serve_index_table_version",
            "The Delta version the loaded index reflects.",
            ("table",),
            registry=self.registry,
            multiprocess_mode="livemin",
        )
        self.stale = Gauge(
            "lakehouse_serve_index_stale",
            "1 when the loaded index reflects an older version than the table's latest.",
            ("table",),
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.reloads = Counter(
            "lakehouse_serve_index_reloads", "New indexes swapped in.", ("table",), registry=self.registry
        )

    def observe(self, endpoint: str, table: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, table, str(status)).inc()
        if status >= 400:
            self.errors.labels(endpoint, table, str(status)).inc()
        self.latency.labels(endpoint, table).observe(seconds)

    def set_table(
        self, table: str, table_version: int | None, index_version: int | None, stale: bool
    ) -> None:
        if table_version is not None:
            self.table_version.labels(table).set(table_version)
        if index_version is not None:
            self.index_version.labels(table).set(index_version)
        self.stale.labels(table).set(1 if stale else 0)

    def exposition(self) -> bytes:
        """The Prometheus text format of every figure (summed over the workers in multiprocess mode)."""
        if os.environ.get(MULTIPROCESS_VARIABLE):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

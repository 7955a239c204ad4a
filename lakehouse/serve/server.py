"""Running the search service under uvicorn: ``lakehouse serve`` (one process, or ``serve.workers``).

With several workers uvicorn starts each one fresh, so the application is named by import string
(:func:`app_from_environment`) and the choices of the command line travel in environment
variables; the workers' metrics meet in a folder of ``PROMETHEUS_MULTIPROC_DIR`` (see
:mod:`lakehouse.serve.metrics`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence

from lakehouse.config.model import LakehouseConfig
from lakehouse.serve.metrics import MULTIPROCESS_VARIABLE

log = logging.getLogger("lakehouse.serve")
TABLES_VARIABLE = "LAKEHOUSE_SERVE_TABLES"


def serve(
    config: LakehouseConfig,
    host: str | None = None,
    port: int | None = None,
    tables: Sequence[str] | None = None,
    workers: int | None = None,
) -> int:
    """Serve until interrupted; the arguments override ``serve.host``, ``port``, ``tables``, ``workers``.

    Raises:
        VectorSearchError: a table that is not in ``embeddings.tables``.
    """
    import uvicorn

    from lakehouse.serve.app import create_app, served_tables
    from lakehouse.serve.auth import ApiKeys

    settings = config.serve
    host, port = host or settings.host, port or settings.port
    workers = workers or settings.workers
    names = served_tables(config, tables)  # a bad name fails here, before any worker starts
    if not _is_loopback(host) and not ApiKeys.from_environment(settings.api_key_variables).required:
        log.warning(
            "listening on %s without API keys: anyone who reaches this address can search the tables; set %s",
            host,
            " or ".join(settings.api_key_variables),
        )
    options = {"host": host, "port": port, "access_log": False, "server_header": False, "log_level": "info"}
    print(
        f"lakehouse serve: http://{host}:{port} (tables {', '.join(names)}; {workers} worker(s))", flush=True
    )
    if workers == 1:
        uvicorn.run(create_app(config, names), **options)
        return 0
    metrics_dir = tempfile.mkdtemp(prefix="lakehouse-serve-metrics-")
    os.environ.update(
        {
            MULTIPROCESS_VARIABLE: metrics_dir,
            TABLES_VARIABLE: ",".join(names),
            "LAKEHOUSE_ENV": config.env,
            "LAKEHOUSE_CONF_DIR": str(config.conf_dir or config.project_dir / "conf"),
        }
    )
    try:
        uvicorn.run("lakehouse.serve.server:app_from_environment", factory=True, workers=workers, **options)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def app_from_environment():
    """The application of one worker, from the variables :func:`serve` set."""
    from lakehouse.config import load_config
    from lakehouse.log import configure_logging
    from lakehouse.serve.app import create_app

    configure_logging()
    tables = [name for name in os.environ.get(TABLES_VARIABLE, "").split(",") if name]
    return create_app(load_config(), tables or None)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""Pytest plugin: one local PostgreSQL server for the whole test run (the ``postgres`` fixture).

Registered by ``pytest_plugins`` in tests/conftest.py. The server runs from a temporary folder on a
free loopback port and stops at the end of the run; tests that start servers of their own ask for
``postgres_binaries``. Where the PostgreSQL binaries are not installed the tests using either
fixture are skipped, unless ``LAKEHOUSE_REQUIRE_POSTGRES`` is set (CI sets it): then they fail, so
that a CI machine without the server never passes by skipping them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.demo.postgres import LocalPostgres
from lakehouse.errors import DatabaseError

REQUIRE_VARIABLE = "LAKEHOUSE_REQUIRE_POSTGRES"


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_required() -> bool:
    """Whether a missing PostgreSQL must fail the tests instead of skipping them."""
    return os.environ.get(REQUIRE_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres_binaries() -> Path:
    """The PostgreSQL bin folder; for tests that start servers of their own."""
    try:
        return LocalPostgres.binaries()
    except DatabaseError as error:
        if postgres_required():
            pytest.fail(f"{REQUIRE_VARIABLE} is set but PostgreSQL is not installed: {error}")
        pytest.skip(f"PostgreSQL is not installed ({error}); set {REQUIRE_VARIABLE}=1 to fail instead")


@pytest.fixture(scope="session")
def postgres(postgres_binaries: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A running local PostgreSQL server (database ``shop``, role ``lakehouse``, no password).

    Its ``jdbc_url`` is what Spark's JDBC source takes; ``psql(sql)`` runs SQL as the role.
    """
    # When the tests run as root the server runs as the `postgres` OS user: start() hands it the
    # folder and grants it search permission on the (0700) pytest folders above.
    server = LocalPostgres(tmp_path_factory.mktemp("postgres") / "server", port=free_loopback_port())
    server.start()
    yield server
    server.stop()

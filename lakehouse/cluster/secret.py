"""Where the local cluster keeps its RPC authentication secret (free of pyspark, so that the
session builder can read it without importing the cluster's process management)."""

from __future__ import annotations

import os
from pathlib import Path

SECRET_FILE = Path("auth") / "secret"
DAEMON_PROPERTIES = Path("auth") / "daemons.conf"


def cluster_secret(state_dir: Path) -> str | None:
    """The RPC authentication secret that ``cluster up`` generated in ``state_dir``, or None."""
    path = Path(state_dir) / SECRET_FILE
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def write_private(path: Path, text: str) -> None:
    """Write a file that only this user can read (created so, never world-readable in between)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    path.chmod(0o600)
